"""Post-training quantization techniques, each with an on/off switch (``camkit export --ptq``).

One :class:`PtqOptions` is active while an export runs (:func:`using`); the three formats'
quantizers read it (:func:`active`), and every quantized manifest records it
(``precision_scheme.ptq``), so a later ``camkit check`` re-derives the same graph. What each
technique does and what it measured on the official CSRNet: docs/quantization.md and
benchmarks/int8_real_weights.md.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

from toolkit.errors import CamkitError

#: NNCF range estimators offered (``RangeEstimatorParametersSet`` names), per-tensor activations
RANGE_ESTIMATORS = {
    "minmax": "MINMAX",                # min and max over every calibration input (default)
    "mean_minmax": "MEAN_MINMAX",      # NNCF's default: the mean of per-input minima / maxima
    "median_minmax": "MEDIAN_MINMAX",
    "mean_no_outliers": "MEAN_NO_OUTLIERS_MINMAX",
    "mean_quantile": "MEAN_QUANTILE",  # mean of per-input 1e-4 / 1-1e-4 quantiles
}


#: 16-bit activations (w8a16, ONNX and LiteRT): each calibrated range side not at zero moves out
#: by this fraction of the range's width; onnx_qdq16.py and litert_ptq.widen_ranges say why
ACTIVATION16_HEADROOM = 1.0


@dataclass(frozen=True)
class PtqOptions:
    #: the model's declared float layers (W8A8_KEEP_FLOAT / W8A8_FLOAT_LAYERS) stay float in w8a8
    float_defaults: bool = True
    #: cross-layer range equalization of the model's declared pairs (equalize.py), w8a8 only:
    #: with 16-bit activations the weights' rounding dominates, and equalization moves range
    #: into the consumer's weights (official CSRNet ONNX w8a16 at 96x128: worst SSIM 0.9872
    #: with it, 0.9958 without)
    equalize: bool = True
    #: activation range estimator (RANGE_ESTIMATORS)
    range_estimator: str = "minmax"
    #: NNCF's fast bias correction on the ONNX graph (the torch.fx path of LiteRT and Core ML
    #: never applies it). Off by default: on the official CSRNet at 96x128 it cost ONNX w8a8
    #: 0.020 of worst SSIM (0.9225 vs 0.9423) and w8a16 7.4 dB (41.6 vs 49.1 dB), whose
    #: 16-bit graph inherits biases corrected for 8-bit activations
    fast_bias_correction: bool = False
    #: when a quantized artifact misses its card on the calibration photos (what `camkit
    #: check` budgets), keep the fewest most sensitive layers float until it does not
    #: (toolkit/quantization/accuracy.py), trained checkpoints only
    auto_float: bool = True
    #: the float-MAC share that search stays under while it can (a layer that would go over is
    #: passed over; when nothing under it meets the card, it goes over and says so)
    max_float_share: float = 0.05

    def nncf_range_estimator(self):
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        return getattr(RangeEstimatorParametersSet, RANGE_ESTIMATORS[self.range_estimator])

    def describe(self) -> dict:
        return asdict(self)


DEFAULT = PtqOptions()
_ACTIVE: contextvars.ContextVar[PtqOptions] = contextvars.ContextVar("camkit_ptq", default=DEFAULT)

SWITCHES = {
    "float-defaults": ("float_defaults", True), "no-float-defaults": ("float_defaults", False),
    "equalize": ("equalize", True), "no-equalize": ("equalize", False),
    "bias-correction": ("fast_bias_correction", True),
    "no-bias-correction": ("fast_bias_correction", False),
    "auto-float": ("auto_float", True), "no-auto-float": ("auto_float", False),
}


def parse(text: str | None) -> PtqOptions:
    """``--ptq`` text: a comma list of ``no-equalize``, ``no-float-defaults``, ``no-auto-float``
    (and their positive forms), ``range=NAME`` and ``max-float-macs=PERCENT``; empty or None:
    the defaults."""
    options = DEFAULT
    for item in (t.strip() for t in (text or "").split(",")):
        if not item:
            continue
        if item in SWITCHES:
            field, value = SWITCHES[item]
            options = replace(options, **{field: value})
        elif item.startswith("max-float-macs="):
            value = item.removeprefix("max-float-macs=").rstrip("%")
            try:
                share = float(value) / 100
            except ValueError:
                share = -1.0
            if not 0 <= share <= 1:
                raise CamkitError(f"--ptq max-float-macs takes a percentage 0..100, got {value!r}")
            options = replace(options, max_float_share=share)
        elif item.startswith("range="):
            name = item.removeprefix("range=")
            if name not in RANGE_ESTIMATORS:
                raise CamkitError(f"unknown range estimator {name!r} in --ptq; choose from "
                                  f"{', '.join(RANGE_ESTIMATORS)}")
            options = replace(options, range_estimator=name)
        else:
            raise CamkitError(f"unknown --ptq item {item!r}; use {', '.join(SWITCHES)}, "
                              f"max-float-macs=PERCENT or range={'|'.join(RANGE_ESTIMATORS)}")
    return options


def from_scheme(scheme: dict | None) -> PtqOptions:
    """The options a manifest's ``precision_scheme`` records (older manifests: no equalization,
    their float defaults, min/max ranges)."""
    recorded = (scheme or {}).get("ptq")
    if recorded is None:
        return PtqOptions(equalize=False)
    return PtqOptions(**{k: v for k, v in recorded.items() if k in PtqOptions.__dataclass_fields__})


def active() -> PtqOptions:
    return _ACTIVE.get()


@contextlib.contextmanager
def using(options: PtqOptions) -> Iterator[PtqOptions]:
    token = _ACTIVE.set(options)
    try:
        yield options
    finally:
        _ACTIVE.reset(token)
