"""The model zoo: an MLP, a small CNN and a VGG-style net, each a flat `nn.Sequential`.

Flat matters: model splitting cuts the list of top-level layers into stages, and a layer list is
the simplest thing to cut, to count parameters of, and to hand to a worker piece by piece. Every
model is built under `torch.manual_seed(seed)` so that the same spec gives the same initial
weights on every machine, which is what lets the market's result be compared with a plain loop.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from databright.training.errors import JobSpecError
from databright.training.spec import ModelSpec


def build_model(spec: ModelSpec, feature_shape: tuple[int, ...], n_classes: int, seed: int) -> nn.Sequential:
    """The model for samples of `feature_shape` (an image is (H, W) or (C, H, W)), initialised from `seed`."""
    torch.manual_seed(seed)
    if spec.kind == "mlp":
        return _mlp(spec, math.prod(feature_shape), n_classes)
    channels, height, width = _image_shape(spec, feature_shape)
    if spec.kind == "cnn":
        return _cnn(spec, feature_shape, channels, height, width, n_classes)
    return _vgg(spec, feature_shape, channels, height, width, n_classes)


def _mlp(spec: ModelSpec, n_in: int, n_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for h in spec.hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, n_classes))
    return nn.Sequential(*layers)


def _image_shape(spec: ModelSpec, shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    raise JobSpecError(f"model {spec.kind!r} needs image features (H, W) or (C, H, W), the dataset has {shape}")


def _reshape(shape: tuple[int, ...], channels: int, height: int, width: int) -> list[nn.Module]:
    # (N, H, W) -> (N, 1, H, W): a single grey channel
    return [nn.Unflatten(1, (channels, height))] if len(shape) == 2 else []


def _cnn(spec: ModelSpec, shape: tuple[int, ...], c: int, h: int, w: int, n_classes: int) -> nn.Sequential:
    c1, c2 = spec.channels
    pool: nn.Module = nn.MaxPool2d(2) if min(h, w) >= 2 else nn.Identity()
    layers = [*_reshape(shape, c, h, w), nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(), pool]
    if min(h, w) >= 2:
        h, w = h // 2, w // 2
    layers += [nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(c2 * h * w, n_classes)]
    return nn.Sequential(*layers)


def _vgg(spec: ModelSpec, shape: tuple[int, ...], c: int, h: int, w: int, n_classes: int) -> nn.Sequential:
    layers = _reshape(shape, c, h, w)
    for block in range(spec.depth):
        out = spec.width * 2 ** min(block, 3)
        for _ in range(spec.convs_per_block):
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU()]
            c = out
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
    n_in = c * h * w
    layers.append(nn.Flatten())
    for hidden in spec.hidden:
        layers += [nn.Linear(n_in, hidden), nn.ReLU()]
        n_in = hidden
    layers.append(nn.Linear(n_in, n_classes))
    return nn.Sequential(*layers)


def check_model(model: nn.Module, feature_shape: tuple[int, ...]) -> None:
    """One forward pass on a zero sample: a model that cannot take the dataset's samples is the
    job's fault, and must be refused before any worker is blamed for it."""
    try:
        with torch.no_grad():
            model(torch.zeros((1, *feature_shape), dtype=torch.float32))
    except RuntimeError as exc:
        raise JobSpecError(f"the model does not fit samples of shape {feature_shape}: {exc}") from exc


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
