"""VGG-19 feature extractor for perceptual losses (Simonyan & Zisserman, ICLR 2015).

Our own definition of the convolutional part of VGG-19, laid out index for index like
torchvision's ``vgg19().features`` so that torchvision's ImageNet checkpoint
(``vgg19-dcbb9e9d.pth``: keys ``features.N.weight`` / ``features.N.bias``; its ``classifier.*``
keys are ignored) loads key for key with ``torch.load(weights_only=True)``. Nothing is downloaded:
the file comes from ``--vgg-weights FILE`` or the ``CAMKIT_VGG19_WEIGHTS`` environment variable.

Layers are named as in the paper and in ESRGAN/BasicSR: ``convB_L`` is the output of the L-th
convolution of block B *before* its ReLU (ESRGAN's perceptual loss, Wang et al. 2018, section
3.3: before-activation features are denser and keep brightness), ``reluB_L`` the same after the
ReLU (DPED/WESPE's content loss uses ``relu5_4``), ``poolB`` after the block's max pool.
Inputs are NCHW RGB in [0, 1]; the ImageNet mean/std normalisation happens inside.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.errors import CamkitError, unknown

ENV_VAR = "CAMKIT_VGG19_WEIGHTS"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: convolutions per block of VGG-19 (configuration "E" of the paper, table 1)
_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _layer_names() -> tuple[str, ...]:
    names = []
    for block, (_, n_convs) in enumerate(_BLOCKS, start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return tuple(names)


#: name of each module of ``features``, by index (``LAYER_NAMES[34] == "conv5_4"``)
LAYER_NAMES = _layer_names()


def _make_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for out_ch, n_convs in _BLOCKS:
        for _ in range(n_convs):
            # not in-place (torchvision's is): an in-place ReLU would overwrite the
            # before-activation features we hand out
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU()]
            in_ch = out_ch
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def expected_keys() -> dict[str, tuple[int, ...]]:
    """State-dict keys and shapes of the features part, as torchvision names them."""
    return {k: tuple(v.shape) for k, v in _make_features().state_dict(prefix="features.").items()}


class VGGFeatures(nn.Module):
    """VGG-19 ``features``; ``forward(x, layers)`` returns ``{name: feature}`` for the layers asked.

    Only the modules up to the deepest requested layer run. State-dict keys are exactly
    torchvision's ``features.N.weight`` / ``features.N.bias``; the normalisation constants are
    non-persistent buffers, so they are not part of the state dict.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = _make_features()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), False)
        for m in self.features:
            if isinstance(m, nn.Conv2d):  # torchvision's init, for random_init_ok runs
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        for name in wanted:
            if name not in LAYER_NAMES:
                raise unknown("VGG-19 layer", name, LAYER_NAMES)
        last = max(LAYER_NAMES.index(name) for name in wanted)
        x = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for index in range(last + 1):
            x = self.features[index](x)
            if LAYER_NAMES[index] in wanted:
                out[LAYER_NAMES[index]] = x
        return out


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CamkitError(
            f"VGG-19 weights {path} do not exist; pass torchvision's vgg19 ImageNet checkpoint "
            f"(vgg19-dcbb9e9d.pth) with --vgg-weights FILE or {ENV_VAR}"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, not a checkpoint, pickled objects refused, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CamkitError(
            f"cannot read VGG-19 weights {path} ({reason[:120]}); the file is damaged or not a "
            f"state dict: use torchvision's vgg19 ImageNet checkpoint vgg19-dcbb9e9d.pth"
        ) from None
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CamkitError(
            f"{path} is not a state dict of tensors; use torchvision's vgg19 ImageNet checkpoint "
            f"vgg19-dcbb9e9d.pth"
        )
    return raw


def _check_keys(path: Path, raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of ``raw``, checked against VGG-19's names and shapes."""
    expected = expected_keys()
    state = {k: v for k, v in raw.items() if not k.startswith("classifier.")}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} {tuple(state[k].shape)} != {expected[k]}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != expected[k]
    )
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    if extra:
        problems.append(f"unexpected {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}")
    if wrong:
        problems.append(f"wrong shape {', '.join(wrong[:2])}{' ...' if len(wrong) > 2 else ''}")
    if problems:
        raise CamkitError(
            f"{path} is not a VGG-19 checkpoint ({'; '.join(problems)}); use torchvision's vgg19 "
            f"ImageNet checkpoint vgg19-dcbb9e9d.pth (not vgg16 or vgg19_bn)"
        )
    return {k: v.float() for k, v in state.items()}


def load_vgg19(path_or_none: str | Path | None, *, random_init_ok: bool = False) -> VGGFeatures:
    """Frozen VGG-19 features (eval mode, no gradients to its weights).

    Weights from ``path_or_none``, else from ``$CAMKIT_VGG19_WEIGHTS``; with neither, random
    initialisation only when ``random_init_ok`` (tests), otherwise a one-line error.
    """
    path = path_or_none if path_or_none is not None else os.environ.get(ENV_VAR) or None
    net = VGGFeatures()
    if path is None:
        if not random_init_ok:
            raise CamkitError(
                "this recipe needs VGG-19 weights for its perceptual loss; pass --vgg-weights FILE "
                f"or set {ENV_VAR}=FILE, FILE being torchvision's vgg19 ImageNet checkpoint "
                "vgg19-dcbb9e9d.pth (nothing is downloaded)"
            )
    else:
        path = Path(path)
        net.load_state_dict(_check_keys(path, _read_state_dict(path)))
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


# ------------------------------------------------------------------- for recipes' loss sections


def vgg_source(loss: Any) -> str:
    """Where a recipe's perceptual loss gets its VGG-19 weights, for the checkpoint record.

    ``loss`` is a recipe's ``loss:`` section: ``layer`` (None: no perceptual loss) and
    ``vgg_random_init_for_tests``."""
    if loss.layer is None:
        return "none"
    path = os.environ.get(ENV_VAR) or None
    if path is None and loss.vgg_random_init_for_tests:
        return "RANDOM INIT (vgg_random_init_for_tests; not a perceptual loss, tests only)"
    return Path(path).name if path else "missing"


def load_vgg(loss: Any, seed: int) -> VGGFeatures | None:
    """A recipe's frozen VGG-19 (None when ``loss.layer`` is None, i.e. ``perceptual: none``).

    Weights from ``--vgg-weights`` / ``CAMKIT_VGG19_WEIGHTS``; without them a one-line error,
    unless ``vgg_random_init_for_tests``: then random weights drawn from ``seed`` (the same on
    --resume), leaving the global RNG, which the engine seeds for the networks, as it was.
    """
    if loss.layer is None:
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return load_vgg19(None, random_init_ok=loss.vgg_random_init_for_tests)
