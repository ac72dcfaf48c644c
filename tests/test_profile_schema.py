"""The profile-result schema: JSON file and dataclasses agree, null means unknown, round trips."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from toolkit.errors import CamkitError
from toolkit.profilers import schema
from toolkit.profilers.parsers import parse_benchmark_model, parse_onnxruntime_perf_test

FIXTURES = Path(__file__).parent / "fixtures" / "profilers"
NESTED = {"runtime": schema.Runtime, "latency": schema.Latency, "model": schema.ModelRef,
          "device": schema.Device, "host": schema.Host, "delegation": schema.Delegation,
          "memory": schema.Memory, "error": schema.ProfileError, "app": schema.AppRun}


def _parse(name: str) -> schema.ProfileResult:
    parse = parse_onnxruntime_perf_test if name.startswith("ort") else parse_benchmark_model
    return parse((FIXTURES / name).read_bytes())


def _names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_schema_file_describes_every_dataclass_field_and_nothing_else():
    s = schema.load_schema()
    assert set(s["properties"]) == set(s["required"]) == _names(schema.ProfileResult)
    assert s["additionalProperties"] is False
    for key, cls in NESTED.items():
        sub = s["properties"][key]
        assert set(sub["properties"]) == set(sub["required"]) == _names(cls), key
        assert sub["additionalProperties"] is False, key
    rows = s["properties"]["ops"]["items"]
    assert set(rows["properties"]) == set(rows["required"]) == _names(schema.OpRow)
    assert s["properties"]["kind"]["enum"] == list(schema.KINDS)
    assert s["properties"]["schema"]["const"] == schema.SCHEMA_VERSION


def test_unknown_values_are_null_never_zero():
    # older onnxruntime_perf_test: no percentiles and no std (it does print the first inference)
    result = _parse("ort_perf_test_old.txt")
    text = json.dumps(result.to_json())
    obj = json.loads(text)
    assert obj["latency"]["first_ms"] == 35.0
    for key in ("median_ms", "p90_ms", "p95_ms", "std_ms"):
        assert obj["latency"][key] is None, key
        assert f'"{key}": null' in text
    assert obj["model"] == {"sha256": None, "format": None, "precision": None, "manifest": None}
    schema.validate(obj)


def test_a_kind_outside_the_enum_is_rejected():
    obj = _parse("ort_perf_test.txt").to_json()
    obj["kind"] = "guessed"
    with pytest.raises(CamkitError, match="kind"):
        schema.validate(obj)
    with pytest.raises(CamkitError, match="measured, estimated, static"):
        schema.ProfileResult(kind="guessed", runtime=schema.Runtime(), latency=schema.Latency())


@pytest.mark.parametrize("mutate, where", [
    (lambda o: o["latency"].update(p90_ms="12.5"), "latency/p90_ms"),
    (lambda o: o["latency"].update(latency_us=12.0), "latency"),
    (lambda o: o.update(raw_output_sha256="abc"), "raw_output_sha256"),
    (lambda o: o.pop("error"), "(root)"),
])
def test_schema_rejects_wrong_types_extra_and_missing_keys(mutate, where):
    obj = _parse("tflite_interpreter_new.txt").to_json()
    mutate(obj)
    with pytest.raises(CamkitError, match=rf"invalid at {re.escape(where)}"):
        schema.validate(obj)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.txt")))
def test_to_json_from_json_round_trips(name):
    result = _parse(name)
    again = schema.ProfileResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result


def test_from_json_names_unknown_keys():
    obj = _parse("ort_perf_test.txt").to_json()
    obj["latency"]["p50_ms"] = 1.0
    with pytest.raises(CamkitError, match=r"unknown keys \['p50_ms'\]"):
        schema.ProfileResult.from_json(obj)


APP = schema.AppRun(
    name="camkit-android", version="0.1.0", backend="litert-gpu", strict=True,
    load_cold_ms=412.5, load_warm_ms=95.0, preprocess_ms=3.25, postprocess_ms=2.5,
    input_size=[256, 256], thermal_before="none", thermal_after="light",
    fallback_ops=["RESIZE_BILINEAR"],
    parity=[schema.AppParity("output", 41.7, 0.0123), schema.AppParity("aux", "inf", 0.0)])


def test_an_app_result_round_trips_and_validates():
    result = dataclasses.replace(_parse("tflite_interpreter_new.txt"), app=APP)
    obj = json.loads(json.dumps(result.to_json()))
    schema.validate(obj)
    assert obj["schema"] == 2 and obj["app"]["parity"][1]["psnr_db"] == "inf"
    assert schema.ProfileResult.from_json(obj) == result
    assert APP.worst_parity_db() == 41.7
    assert dataclasses.replace(APP, parity=None).worst_parity_db() is None


@pytest.mark.parametrize("mutate, where", [
    (lambda a: a.update(name="camkit-web"), "app/name"),
    (lambda a: a["parity"][0].update(psnr_db="nan"), "app/parity/0/psnr_db"),
    (lambda a: a["parity"][0].update(max_abs=-1.0), "app/parity/0/max_abs"),
    (lambda a: a.update(input_size=[256]), "app/input_size"),
    (lambda a: a.pop("thermal_after"), "app"),
])
def test_schema_rejects_a_broken_app_block(mutate, where):
    obj = dataclasses.replace(_parse("ort_perf_test.txt"), app=APP).to_json()
    mutate(obj["app"])
    with pytest.raises(CamkitError, match=rf"invalid at {re.escape(where)}"):
        schema.validate(obj)


def test_a_schema_1_result_is_read_as_schema_2_with_no_app():
    obj = _parse("ort_perf_test.txt").to_json()
    del obj["app"]
    obj["schema"] = 1
    schema.validate(obj)
    result = schema.ProfileResult.from_json(obj)
    assert result.schema == 2 and result.app is None
    obj["schema"] = 3
    with pytest.raises(CamkitError, match="schema 3.*upgrade camkit"):
        schema.ProfileResult.from_json(obj)
