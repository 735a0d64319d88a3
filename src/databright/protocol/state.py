"""A training state (a model's or a stage's tensors and its optimiser's) as one safetensors blob.

safetensors holds only named tensors and a string-to-string header, and its parser never runs code,
so a state received from a worker can be read safely (unlike `torch.save`'s pickle). The optimiser's
non-tensor parts (its param groups, and any non-tensor slot value) go into the header as JSON under
`databright`, with the order of the model's tensors, so that unpacking gives back exactly the
structure `torch.save` used to: `{"model": {name: tensor}, "optimizer": {"state": {i: {key: v}},
"param_groups": [...]}}`, and the state's hash is unchanged by the round trip.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from databright.protocol.errors import ProtocolError

FORMAT = "databright-state-1"
MAX_HEADER = 1 << 20


def pack_state(model: dict[str, Any], optimizer: dict[str, Any]) -> bytes:
    """The one byte form of a training state that crosses processes, is checkpointed and is sliced."""
    tensors: dict[str, torch.Tensor] = {}
    order = []
    for name, t in model.items():
        tensors[f"m.{name}"] = t.detach().contiguous()
        order.append(name)
    slots: dict[str, list[str]] = {}
    extra: dict[str, dict[str, Any]] = {}
    for index, slot in optimizer["state"].items():
        slots[str(int(index))] = sorted(slot)
        for key, value in slot.items():
            if isinstance(value, torch.Tensor):
                tensors[f"o.{int(index)}.{key}"] = value.detach().contiguous()
            else:
                extra.setdefault(str(int(index)), {})[key] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in optimizer["param_groups"]]
    header = {"format": FORMAT, "model": order, "slots": slots, "extra": extra, "param_groups": groups}
    return bytes(st_save(tensors, metadata={"databright": json.dumps(header, sort_keys=True)}))


def _header(blob: bytes) -> dict[str, Any]:
    if len(blob) < 8:
        raise ProtocolError("state: too short for a safetensors blob")
    (length,) = struct.unpack("<Q", blob[:8])
    if length > MAX_HEADER or 8 + length > len(blob):
        raise ProtocolError("state: safetensors header length out of bounds")
    try:
        raw = json.loads(blob[8 : 8 + length])
        meta = json.loads(raw["__metadata__"]["databright"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"state: no databright header ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ProtocolError("state: not a databright state")
    return meta


def unpack_state(blob: bytes) -> dict[str, Any]:
    """The structure `pack_state` was given; a ProtocolError if the blob is not exactly such a state."""
    meta = _header(blob)
    try:
        tensors = st_load(blob)
    except Exception as exc:  # the Rust parser's own errors: any of them means a malformed blob
        raise ProtocolError(f"state: not a safetensors blob ({str(exc)[:100]})") from None
    try:
        model = {str(name): tensors.pop(f"m.{name}") for name in meta["model"]}
        state: dict[int, dict[str, Any]] = {}
        for index, keys in meta["slots"].items():
            slot: dict[str, Any] = {}
            for key in keys:
                name = f"o.{int(index)}.{key}"
                slot[str(key)] = tensors.pop(name) if name in tensors else meta["extra"][index][key]
            state[int(index)] = slot
        groups = [dict(g) for g in meta["param_groups"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(f"state: header and tensors do not match ({type(exc).__name__}: {exc})") from None
    if tensors:
        raise ProtocolError(f"state: {len(tensors)} tensors the header does not name")
    return {"model": model, "optimizer": {"state": state, "param_groups": groups}}


def check_like(blob: bytes, template: dict[str, Any]) -> dict[str, Any]:
    """Unpacks `blob` and checks it has exactly the template's tensors (names, dtypes, shapes), all finite:
    how the coordinator reads a state a worker returned, against the state it gave that worker."""
    state = unpack_state(blob)
    mine, theirs = template["model"], state["model"]
    if set(mine) != set(theirs):  # the order may differ: a whole state is kept in a canonical order
        raise ProtocolError("state: its tensors are not the job's")
    for name, t in theirs.items():
        _same(t, mine[name], name)
    params = list(template["model"].values())
    ours, got = template["optimizer"]["state"], state["optimizer"]["state"]
    if set(got) - set(range(len(params))) or any(sorted(got[i]) != sorted(ours[i]) for i in got if i in ours):
        raise ProtocolError("state: its optimiser slots are not the job's")
    for i, slot in got.items():
        for key, value in slot.items():
            if not isinstance(value, torch.Tensor):
                raise ProtocolError(f"state: opt.{i}.{key} is not a tensor")
            ref = ours.get(i, {}).get(key)
            if isinstance(ref, torch.Tensor):
                _same(value, ref, f"opt.{i}.{key}")
            elif key == "step":
                _same(value, torch.zeros((), dtype=torch.float32), f"opt.{i}.{key}")
            else:
                _same(value, params[i], f"opt.{i}.{key}")
    if state["optimizer"]["param_groups"] != template["optimizer"]["param_groups"]:
        raise ProtocolError("state: its optimiser settings are not the job's")
    return state


def _same(t: torch.Tensor, ref: torch.Tensor, name: str) -> None:
    if t.dtype != ref.dtype or tuple(t.shape) != tuple(ref.shape):
        raise ProtocolError(f"state: {name} is {t.dtype}{tuple(t.shape)}, expected {ref.dtype}{tuple(ref.shape)}")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ProtocolError(f"state: {name} holds values that are not finite")
