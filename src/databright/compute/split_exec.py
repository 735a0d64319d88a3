"""Model splitting on workers: the coordinator's side of a split job.

The coordinator (trusted) keeps the agreed state of the whole model, in the same form as an unsplit
replica's snapshot; each stage worker is given only its slice — its layers' weights and their
optimiser state — and gives back only that. Per batch, micro-batches go forward stage to stage as
futures: a stage's activations come back to the coordinator, which checks them (dtype, shape, finite)
and forwards them to the next stage as soon as they arrive, without the runner waiting (so stage k
works on micro-batch m+1 while stage k+1 works on m: the GPipe pipeline; the last stage does its
forward and backward in one call), then gradients come back stage by stage in reverse, micro-batch 0
first (so the first stage starts its backwards while the last is still on later micro-batches), then
every stage steps once.
Workers never talk to each other. Only cut activations and their gradients cross between stages;
the first stage sees the samples, the others only activations (the last also the labels), so only
the first stage's data exposure counts against a data cap. The coordinator hashes what it forwards
when TMR compares groups, so a deviating stage is blamed by its own message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from databright.compute.checkpoint import Progress
from databright.compute.executor import Context, Credit, GroupResult, Position, recorded
from databright.compute.handle import WorkerHandle
from databright.compute.schedule import Unit
from databright.protocol.state import pack_state, unpack_state
from databright.training.models import build_model
from databright.training.replica import packed_state_hash
from databright.training.spec import JobSpec
from databright.training.split import backward_order, cut_points, profile


class StageLayout:
    """Where the model is cut, and which parameters (by position) each stage holds."""

    def __init__(self, spec: JobSpec, feature_shape: tuple[int, ...], n_classes: int) -> None:
        model = build_model(spec.model, feature_shape, n_classes, spec.training.seed)
        self.bounds = [0, *cut_points(model, feature_shape, spec.protections.split_stages), len(model)]
        layers = profile(model, feature_shape)
        # what each stage but the last outputs per sample: its replies are checked against it
        self.out_shapes: list[tuple[int, ...] | None] = [layers[b - 1].out_shape for b in self.bounds[1:-1]] + [None]
        layer_of_param = [int(name.split(".")[0]) for name, _ in model.named_parameters()]
        self.positions = [[i for i, layer in enumerate(layer_of_param) if a <= layer < b]
                          for a, b in zip(self.bounds, self.bounds[1:], strict=False)]
        self.parameters = [sum(p.numel() for i, p in enumerate(model.parameters()) if i in pos)
                           for pos in self.positions]

    def _layers(self, k: int) -> range:
        return range(self.bounds[k], self.bounds[k + 1])

    def stage_state(self, full: bytes, k: int) -> bytes:
        """Stage k's slice of a whole-model snapshot: its layers' tensors and optimiser state, renumbered."""
        state = unpack_state(full)
        layers = self._layers(k)
        model = {key: t for key, t in state["model"].items() if int(key.split(".")[0]) in layers}
        opt = state["optimizer"]
        pos = self.positions[k]
        groups = [{**g, "params": list(range(len(pos)))} for g in opt["param_groups"]]
        slots = {j: opt["state"][p] for j, p in enumerate(pos) if p in opt["state"]}
        return pack_state(model, {"state": slots, "param_groups": groups})

    def whole_state(self, stages: list[bytes]) -> bytes:
        """The whole-model snapshot from every stage's slice (the inverse of `stage_state`)."""
        model: dict[str, torch.Tensor] = {}
        slots: dict[int, Any] = {}
        groups: list[dict[str, Any]] = []
        for k, blob in enumerate(stages):
            state = unpack_state(blob)
            model.update(state["model"])
            for j, slot in state["optimizer"]["state"].items():
                slots[self.positions[k][int(j)]] = slot
            groups = state["optimizer"]["param_groups"]
        total = sum(len(p) for p in self.positions)
        whole_groups = [{**g, "params": list(range(total))} for g in groups]
        ordered = dict(sorted(model.items(), key=lambda kv: (int(kv[0].split(".")[0]), kv[0])))
        return pack_state(ordered, {"state": dict(sorted(slots.items())), "param_groups": whole_groups})


class SplitGroup:
    """The group executor of a split model (see `execute_split`)."""

    def __init__(self, layout: StageLayout) -> None:
        self.layout = layout

    def __call__(self, ctx: Context, group: list[WorkerHandle], unit: Unit, progress: Progress, state: bytes,
                 compare: bool) -> GroupResult:
        return execute_split(ctx, group, unit, progress, state, self.layout, compare)


def execute_split(runner: Context, group: list[WorkerHandle], unit: Unit, progress: Progress, state: bytes,
                  layout: StageLayout, compare: bool) -> GroupResult:
    """Trains `unit` on the stage workers (`group`, in stage order) from the agreed `state`. With
    `compare`, the trace keeps every activation and gradient crossing a cut (as references) and each
    stage's state hash after every step, for locating a deviation, and every stage's signed replies
    are kept (`GroupResult.transcripts`) for slash evidence."""
    with recorded(group, compare) as transcripts:
        result = _run_split(runner, group, unit, progress, state, layout, compare)
    result.transcripts = transcripts
    return result


def _run_split(runner: Context, group: list[WorkerHandle], unit: Unit, progress: Progress, state: bytes,
               layout: StageLayout, compare: bool) -> GroupResult:
    stale = [(k, h) for k, h in enumerate(group) if runner.holds.get(h.address) != progress.state_hash]
    runner.gather([(h, h.setup_stage(runner.job, runner.spec_json, list(runner.data.feature_shape),
                                     runner.data.n_classes, k, layout.stage_state(state, k), layout.out_shapes[k]))
                   for k, h in stale])
    for h in group:
        runner.holds[h.address] = ""  # from here on they hold work in progress
    x, y = runner.data.x_train, runner.data.y_train
    micro = max(1, runner.spec.protections.micro_batches)
    losses = []
    seconds = dict.fromkeys((h.address for h in group), 0.0)
    traces: dict[int, list[Position]] = {}  # per step, in causal order: activations, gradients, then states
    last = len(group) - 1

    def collect(step: int, refs: list[Any]) -> None:
        replies = runner.gather(list(zip(group, refs, strict=True)))
        losses.append(replies[-1]["loss"])
        for k, (h, r) in enumerate(zip(group, replies, strict=True)):
            seconds[h.address] += r["seconds"]
            if compare:
                traces[step].append(Position(f"step {step} state {k}", h, r["hash"]))

    runner.expose(group[0], np.concatenate(unit.batches))  # only the first stage ever sees samples
    pending: tuple[int, list[Any]] | None = None  # the previous batch's step calls, not yet collected
    for step, batch in enumerate(unit.batches, start=unit.start):
        trace = traces.setdefault(step, [])
        parts = [p for p in np.array_split(batch, micro) if len(p)]
        grads: list[Any] = []  # per micro-batch: the last stage's gradient for the stage before it
        for m, idx in enumerate(parts):
            ref: Any = x[idx]
            for k, h in enumerate(group[:last]):
                ref = h.stage_forward(m, ref)
                if compare:
                    trace.append(Position(f"step {step} forward {m} stage {k}", h, ref))
            grads.append(group[last].stage_forward_backward(m, ref, y[idx], len(batch)))
            if compare:
                trace.append(Position(f"step {step} backward {m} stage {last}", group[last], grads[m]))
        for m in backward_order(len(parts)):
            grad: Any = grads[m]
            for k in reversed(range(last)):
                grad = group[k].stage_backward(m, grad, None, len(batch), first=k == 0)
                if compare and k > 0:
                    trace.append(Position(f"step {step} backward {m} stage {k}", group[k], grad))
        steps = [h.stage_step(compare) for h in group]
        # a worker runs its calls in the order they were sent, so the next batch can be queued behind this
        # batch's step before the step is done: the coordinator collects one batch behind, never stalling
        # the pipeline on a round trip
        if pending is not None:
            collect(*pending)
        pending = (step, steps)
    if pending is not None:
        collect(*pending)
    trace = [p for step in sorted(traces) for p in traces[step]]
    snaps = runner.gather([(h, h.stage_snapshot()) for h in group])
    slices = tuple(packed_state_hash(s) for s in snaps)
    whole = layout.whole_state(snaps)
    digest = packed_state_hash(whole)
    samples = sum(len(b) for b in unit.batches)
    credit: Credit = {}
    for k, h in enumerate(group):
        runner.holds[h.address] = digest
        trace.append(Position(f"final {k}", h, slices[k]))
        credit[h.address] = (samples, len(unit.batches), seconds[h.address])
        progress.parameters[h.address] = layout.parameters[k]
    return GroupResult(whole, digest, credit, losses, trace, slices)
