"""``camkit list``: models, variants, formats and precisions, from the registry."""

from __future__ import annotations

import argparse

from toolkit.commands._common import models_option

NAME = "list"
HELP = "models, variants, formats and precisions from the registry"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--macs", action="store_true",
                        help="also count each variant's multiply-accumulates (convs and "
                        "linears, from the modules on PyTorch's meta device) per frame at --size")
    parser.add_argument("--size", default="1080x1920",
                        help="frame size HEIGHTxWIDTH for --macs (default 1080x1920)")
    models_option(parser)


def run(args: argparse.Namespace) -> int:
    from toolkit import registry
    from toolkit.checkpoints import shipped_checkpoint
    from toolkit.export import parse_size
    from toolkit.models._cost import conv_linear_macs
    from toolkit.spec import PRECISIONS

    frame = parse_size(args.size) if args.macs else None
    print("models:" + (f" (GMACs per {frame[0]}x{frame[1]} frame: convs and linears)"
                       if args.macs else ""))
    for model_id in registry.model_ids():
        spec = registry.model_spec(model_id)
        mod = registry.model_module(model_id)
        print(f"  {model_id}  ({spec.task}; {spec.title})")
        source = registry.model_source(model_id)
        if source.kind != "builtin":
            print(f"    from {source.describe()}")
        fr = spec.full_resolution
        print(f"    full resolution: {fr.strategy}"
              + ((" (statistics by tiles; camkit export --split)" if fr.statistics == "tiles"
                  else " (thumbnail; camkit export --split)") if fr.strategy == "split" else
                 " (lossy)" if fr.strategy == "resize" else ""))
        for variant in spec.variants:
            params = sum(p.numel() for p in mod.build(variant).parameters())
            h, w = spec.default_size[variant]
            default = " [default]" if variant == spec.default_variant else ""
            ckpt = "checkpoint shipped" if shipped_checkpoint(model_id, variant) else "no checkpoint"
            cost = ""
            if args.macs and (frame[0] % spec.size_multiple or frame[1] % spec.size_multiple):
                cost = f"  (sides must be multiples of {spec.size_multiple})"
            elif args.macs:
                macs = conv_linear_macs(mod.build(variant), tuple(t.channels for t in spec.inputs),
                                        *frame)
                cost = f"  {macs / 1e9:>8.2f} GMACs/frame"
            print(f"    {variant:<8} {params:>12,} params{cost}  {h}x{w}  {ckpt}{default}")
    print("formats:")
    for name in registry.format_names():
        mod = registry.format_module(name)
        state = ("installed" if registry.format_available(name)
                 else f"pip install 'camkit[{mod.extra}]'")
        print(f"  {name:<8} .{mod.suffix:<10} {','.join(mod.precisions):<12} {state}")
    print("precisions:")
    for pid, text in PRECISIONS.items():
        print(f"  {pid:<6} {text}")
    return 0
