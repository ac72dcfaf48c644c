"""A profile result as a short readable table for stdout; the JSON file is the full record.

Unknown values print as "-" so a missing p90 never looks like a measured one.
"""

from __future__ import annotations

from toolkit.profilers.schema import ProfileResult

TOP_OPS = 10


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _row(label: str, pairs: list[tuple[str, object]]) -> str:
    return f"{label:<12}" + "  ".join(f"{name} {_num(value)}" for name, value in pairs)


def format_table(result: ProfileResult) -> str:
    if result.kind == "static":
        return format_static(result)
    rt, lat, mem, model = result.runtime, result.latency, result.memory, result.model
    tool = rt.tool or "-"
    if rt.tool_generation:
        tool += f" ({rt.tool_generation})"
    delegate = rt.delegate or "none reported"
    if rt.accelerator:
        delegate += f" on {rt.accelerator}"
    lines = [
        f"{'tool':<12}{tool}  runtime {rt.name or '-'}  delegate {delegate}  kind {result.kind}",
        f"{'model':<12}" + (
            f"{model.format or '-'} {model.precision or '-'} sha256 {model.sha256[:12]}"
            if model.sha256 else "unknown (pass --manifest to record the artifact)"),
        _row("latency ms", [("init", lat.init_ms), ("first", lat.first_ms),
                            ("mean", lat.mean_ms), ("median", lat.median_ms)]),
        _row("", [("p5", lat.p5_ms), ("p90", lat.p90_ms), ("p95", lat.p95_ms),
                  ("p99", lat.p99_ms)]),
        _row("", [("min", lat.min_ms), ("max", lat.max_ms), ("std", lat.std_ms), ("n", lat.n)]),
        _row("memory MB", [("init", mem.init_mb), ("overall", mem.overall_mb),
                           ("peak", mem.peak_mb)]),
    ]
    d = result.delegation
    if d is not None:
        fully = {True: "fully delegated", False: "NOT fully delegated", None: "coverage unknown"}
        lines.append(f"{'delegation':<12}{d.delegate or '-'}: {_num(d.nodes_delegated)}/"
                     f"{_num(d.nodes_total)} nodes, {_num(d.partitions)} partitions, "
                     f"{_num(d.delegate_kernels)} delegate kernels, {fully[d.fully_delegated]}")
    by_time = [op for op in result.ops if op.table == "top_by_time"][:TOP_OPS]
    if by_time:
        lines.append(f"top {len(by_time)} ops by time:")
        lines.append(f"  {'avg ms':>9} {'%':>7}  {'node type':<32} name")
        for op in by_time:
            lines.append(f"  {_num(op.avg_ms):>9} {_num(op.percent, 2):>7}  "
                         f"{op.node_type:<32} {op.name or '-'}")
    if result.app is not None:
        lines += format_app(result.app)
    if result.error is not None:
        e = result.error
        lines.append(f"{'error':<12}{e.kind}: {e.message}")
        if e.last_line:
            lines.append(f"{'last line':<12}{e.last_line}")
    return "\n".join(lines) + "\n"


def format_app(app) -> list[str]:
    """What the camkit app measured beside the latency (``ProfileResult.app``)."""
    size = "x".join(map(str, app.input_size)) if app.input_size else "-"
    lines = [
        f"{'app':<12}{app.name} {app.version or '-'}  backend {app.backend}"
        f"{' (strict)' if app.strict else ''}  input {size}",
        _row("app ms", [("cold load", app.load_cold_ms), ("warm load", app.load_warm_ms),
                        ("pre", app.preprocess_ms), ("post", app.postprocess_ms)]),
        f"{'thermal':<12}{app.thermal_before or '-'} -> {app.thermal_after or '-'}",
    ]
    if app.fallback_ops is not None:
        lines.append(f"{'fallback':<12}" + (", ".join(app.fallback_ops) or
                                            "none: every op on the accelerator"))
    if app.parity is None:
        lines.append(f"{'parity':<12}not measured")
    for p in app.parity or []:
        db = "identical" if p.psnr_db == "inf" else f"{p.psnr_db:.2f} dB"
        lines.append(f"{'parity':<12}{p.output}: {db}, max abs {p.max_abs:.3g} "
                     "(vs the torch output in the sample)")
    return lines


def _count(value: int | None) -> str:
    """A large count with thousands separators ("-" when unknown)."""
    return "-" if value is None else f"{value:,}"


def format_static(result: ProfileResult) -> str:
    """The static op report: one line per op, totals, and the ops each target leaves to CPU."""
    s, model = result.static, result.model
    if s is None:
        raise ValueError("a static result carries a 'static' summary")
    targets = list(s.targets)
    short = {t: t.removesuffix("_heuristic") + ("*" if t.endswith("_heuristic") else "")
             for t in targets}
    lines = [
        f"{'static':<12}{model.format or '-'} {model.precision or '-'} at "
        + ", ".join(f"{k} {'x'.join(str(d) for d in v)}" for k, v in s.input_shapes.items())
        + " (counted from the graph, nothing ran)",
        f"  {'op':<18} {'name':<22} {'output shape':<20} {'MACs':>15} {'params':>9} "
        f"{'act. MB':>9}  falls back on",
    ]
    for op in result.ops:
        if op.table != "static":
            continue
        shape = "x".join("?" if d is None else str(d) for d in op.output_shape or []) or "-"
        mb = "-" if op.activation_bytes is None else f"{op.activation_bytes / 2**20:.2f}"
        where = ", ".join(short[t] for t in op.unsupported_on or []) or "-"
        lines.append(f"  {op.node_type:<18} {(op.name or '-')[:22]:<22} {shape:<20} "
                     f"{_count(op.macs):>15} {_count(op.params):>9} {mb:>9}  {where}")
    peak = "-" if s.peak_activation_mb is None else f"{s.peak_activation_mb:.1f} MB"
    written_mb = None if s.activation_bytes is None else s.activation_bytes / 2**20
    lines += [
        f"{'total':<12}MACs {_count(s.macs)}  params {_count(s.params)}  "
        f"activations written {_num(written_mb, 1)} MB",
        f"{'peak':<12}{peak} of live activations (at {s.peak_at or '-'})",
    ]
    n_ops = sum(op.table == "static" for op in result.ops)
    for t in targets:
        lines.append(f"{'fallback':<12}{short[t]}: {s.fallback_ops[t]}/{n_ops} ops -- "
                     f"{s.targets[t]}")
    if any(t.endswith("_heuristic") for t in targets):
        lines.append(f"{'':<12}* heuristic: a rule table, not the delegate's own check")
    lines += [f"{'note':<12}{note}" for note in s.notes]
    return "\n".join(lines) + "\n"
