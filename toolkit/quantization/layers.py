"""Layer ids: one name for "this layer" that every format's quantizer understands.

Accuracy-aware quantization keeps some layers in float, and the three formats quantize three
different graphs (NNCF on an ONNX graph, PT2E on a torch.export graph for LiteRT and for Core ML).
A layer id names a layer the same way in all of them:

- a conv / transposed conv / linear: the module path of the module that owns it, relative to the
  model (``cond_net.conv1``); every node of a shared module gets the same id;
- any other quantized op (a functional ``x * s + b`` in a forward): ``<module path>/<node name>``,
  or just the node name at the top level (``mul_1``), where the node name is torch.export's name
  for it (``aten.mul.Tensor`` -> ``mul``, ``mul_1``, ...). torch.export names nodes after the aten
  op and a counter, so strict and non-strict exports of one module, and the ONNX exporter (which
  records it as ``pkg.torch.onnx.name_scopes``), agree.

A layer id may also name every op of one module and of its submodules: ``<module path>/*``
(``blocks.0.norm1/*``), which is how a model keeps a whole block float (``default_float_layers``).

The export wrappers (``ChannelsLast``, the LiteRT ``_NamedIO``) hold the model as ``inner``; those
leading ``inner`` segments are dropped, so a model must not name a top-level submodule ``inner``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

#: aten ops whose layer is their module (they carry the weights)
WEIGHTED_ATEN = ("aten.conv", "aten.linear", "aten._convolution", "aten.convolution")
#: attribute name of the export wrappers' wrapped module
WRAPPER_ATTR = "inner"
#: fx node meta key: the layer id of the node a graph pass replaced (litert_ptq.split_large_means)
LAYER_ID_META = "camkit_layer_id"
#: suffix of a layer id that names every op of a module (and of its submodules)
MODULE_WILDCARD = "/*"
#: class attribute of an ``nn.Module`` whose ops stay float in w8a8 by default (the reason goes
#: with the attribute; toolkit/models/_blocks.py ``InstanceNorm`` has one)
W8A8_FLOAT_ATTR = "W8A8_KEEP_FLOAT"
#: optional class attribute beside it: one line saying why (default: the docstring's first line)
W8A8_FLOAT_REASON_ATTR = "W8A8_FLOAT_REASON"
#: class attribute ``{layer id relative to the module: reason}``: single layers of a module that
#: stay float in w8a8 by default (CSRNet's condition head and modulation)
W8A8_FLOAT_LAYERS_ATTR = "W8A8_FLOAT_LAYERS"
#: class attribute beside ``W8A8_KEEP_FLOAT``: the block stays float in w8a16 as well (16-bit
#: integer statistics still break it; the class says why, with numbers). ``W8A8_FLOAT_LAYERS``
#: entries are w8a8 only: 16 bits carry CSRNet's condition head and modulation (51 dB).
W8A16_FLOAT_ATTR = "W8A16_KEEP_FLOAT"


def strip_wrappers(path: str) -> str:
    parts = path.split(".") if path else []
    while parts and parts[0] == WRAPPER_ATTR:
        parts.pop(0)
    return ".".join(parts)


def layer_id(module_path: str, node_name: str, aten_target: str) -> str:
    """The layer id of a graph node from its owning module path, node name and aten op."""
    path = strip_wrappers(module_path)
    if aten_target.startswith(WEIGHTED_ATEN) and path:
        return path
    return f"{path}/{node_name}" if path else node_name


def selects(wanted: str, lid: str) -> bool:
    """Whether the layer id ``wanted`` (an id, or ``<module path>/*``) covers the layer ``lid``."""
    if not wanted.endswith(MODULE_WILDCARD):
        return lid == wanted
    module = wanted[: -len(MODULE_WILDCARD)]
    return lid == module or lid.startswith((module + "/", module + "."))


def selector(wanted: Iterable[str]):
    """``lid -> the first id of wanted that covers it, or None`` (ids and module wildcards)."""
    exact = set(w for w in wanted if not w.endswith(MODULE_WILDCARD))
    modules = [w for w in wanted if w.endswith(MODULE_WILDCARD)]

    def select(lid: str | None) -> str | None:
        if lid is None:
            return None
        if lid in exact:
            return lid
        return next((w for w in modules if selects(w, lid)), None)

    return select


def default_float_reasons(module, precision: str = "w8a8") -> dict[str, str]:
    """The layers a model keeps float in ``precision`` (w8a8 or w8a16) unless told otherwise,
    each with why (recorded in the manifest's ``precision_scheme.kept_float_layers``,
    ``default_float_layers`` and ``default_float_reasons``):

    - ``<path>/*`` for every submodule whose class sets ``W8A8_KEEP_FLOAT`` (in w8a16: whose
      class also sets ``W8A16_KEEP_FLOAT``; the reason: the class's ``W8A8_FLOAT_REASON``, else
      the first line of its docstring);
    - w8a8 only: ``<path>.<id>`` for every entry ``{id: reason}`` of a class's
      ``W8A8_FLOAT_LAYERS``, where ``id`` is a layer id relative to that module
      (``cond_scale1``, ``gfm1/*``), and ``<path>/<id>`` where ``id`` names an op of the
      module's own forward (``mean``).
    """
    if precision not in ("w8a8", "w8a16"):
        raise ValueError(f"no default float layers for precision {precision!r}")
    wide = precision == "w8a16"
    found: dict[str, str] = {}

    def covered(lid: str) -> bool:  # an enclosing module already covers it
        return any(f.endswith(MODULE_WILDCARD) and selects(f, lid.removesuffix(MODULE_WILDCARD))
                   for f in found)

    for path, sub in module.named_modules():
        path = strip_wrappers(path)
        cls = type(sub)
        if (path and getattr(cls, W8A8_FLOAT_ATTR, False) and not covered(path)
                and (not wide or getattr(cls, W8A16_FLOAT_ATTR, False))):
            doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
            found[path + MODULE_WILDCARD] = getattr(cls, W8A8_FLOAT_REASON_ATTR, doc)
        for lid, why in ({} if wide else getattr(cls, W8A8_FLOAT_LAYERS_ATTR, {})).items():
            # a submodule's id joins with ".", an op of this module's own forward with "/"
            head = lid.split("/")[0].split(".")[0]
            full = lid if not path else f"{path}{'.' if hasattr(sub, head) else '/'}{lid}"
            if not covered(full):
                found[full] = why
    return found


def default_float_layers(module, precision: str = "w8a8") -> list[str]:
    """The ids of :func:`default_float_reasons`, in module order."""
    return list(default_float_reasons(module, precision))


def fx_layer_id(node) -> str:
    """Layer id of a ``torch.fx`` node of a torch.export graph (a node a camkit graph pass
    made in place of another carries that one's id in ``meta["camkit_layer_id"]``)."""
    if node.meta.get(LAYER_ID_META):
        return node.meta[LAYER_ID_META]
    stack = node.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return layer_id(path, node.name, str(node.target))


def onnx_layer_id(node) -> str | None:
    """Layer id of an ONNX node written by ``torch.onnx.export(dynamo=True)`` (None when the node
    carries no torch metadata, e.g. one an optimizer pass created)."""
    meta = {p.key: p.value for p in node.metadata_props}
    try:
        scopes = ast.literal_eval(meta["pkg.torch.onnx.name_scopes"])
        classes = ast.literal_eval(meta["pkg.torch.onnx.class_hierarchy"])
    except (KeyError, ValueError, SyntaxError):
        return None
    if not scopes:
        return None
    path = scopes[-2] if len(scopes) > 1 else ""
    return layer_id(path, scopes[-1], str(classes[-1]) if classes else "")


def onnx_nodes_of(model, layers: Iterable[str]) -> list[str]:
    """Names of the ONNX nodes that belong to ``layers`` (every node of a decomposed op; every
    node of a module for ``<module path>/*``)."""
    wanted = list(dict.fromkeys(layers))
    select = selector(wanted)
    found: dict[str, list[str]] = {}
    for node in model.graph.node:
        hit = select(onnx_layer_id(node))
        if hit is not None:
            found.setdefault(hit, []).append(node.name)
    missing = sorted(set(wanted) - set(found))
    if missing:
        from toolkit.errors import CamkitError

        raise CamkitError(
            f"layer(s) {missing} are not in the ONNX graph; its layers are read from the "
            f"torch.onnx metadata (pkg.torch.onnx.name_scopes)"
        )
    return [name for lid in sorted(found) for name in found[lid]]
