"""Framework overhead of the computation market: a job through the market against a plain PyTorch loop.

Both train the same model on the same data (the digits of a seeded registry, prepared exactly as the
coordinator prepares them), in the same batch order from the same seed, at one thread:

  plain         a hand-written loop in this process (zero_grad, forward, cross-entropy, backward, step)
  market job    post (escrow) -> coordinator accepts -> reads the registry from the store with its right
                -> trains on one worker process (gRPC over TLS, authenticated, every reply signed and
                checked), unit by unit, with a checkpoint after each and an
                evaluation after each epoch -> seals the model to the buyer, stores model and report
                -> completeJob settles (compute fee to the worker, data fee as dividends)

The epochs are chosen so that the plain loop takes at least --target-seconds (default 60). Fixed
start-up costs (the gateway, the worker process, deploying the market and seeding the registry) are reported
separately, not in the ratio. `dispatch_ms_per_step` is the coordinator's own share of each step:
(training wall time - the worker's compute seconds) / steps, i.e. protocol messages, data shipping,
checkpoints and evaluation. The market's final weights are checked bitwise against the plain loop's.

Then the protocol's own costs beside a raw TCP socket in the same run (bench/_transport.py):
`protocol_round_trip_ratio` (a 1 KiB message there and back, TLS, authenticated session, signed and
checked reply) and `tensor_4mib_throughput_ratio` (a 4 MiB tensor message, protocol / socket). Last, the
value step (bench/value_step.py: the demo's job and one of --value-samples, default 50,000) as a fraction
of its training time: `value_step_fraction`, the larger of the two (goal <= 0.05).

Measured (2 vCPUs shared with other work, load average ~13 during the runs, so only ratios taken within
one run mean anything): on Ray before this change, overhead_ratio 1.066 (plain 76.7 s, job 81.8 s,
35,302 steps); on the gRPC protocol 0.91 (plain 47.0 s, job 42.9 s; the load moved between the halves),
bitwise equal. The protocol's 1 KiB round trip 1.5-3.1 ms against the socket's 15-25 us (60-200x; each
message crosses ~8 threads, which under this load costs far more than the work) and 4 MiB messages at
58-99 MB/s against 520-580 MB/s (0.10-0.19x: the request and the reply are each hashed by both sides
for the signatures, at ~265 MB/s here). Neither goal (<= 4x, >= 0.8x) is met.
Plain gRPC in the protocol's shape (the third row, `grpc_stream_*`) shows why: on a quiet machine
(2026-12-03, load 0.4; `_transport.measure(rounds=5)` alone) the socket's 1 KiB round trip was 12 us,
plain gRPC's 509 us (42x) and the protocol's 1,185 us (98x); at 4 MiB the socket moved 1,220 MB/s,
plain gRPC 600 (0.49x) and the protocol 241 (0.20x). grpcio alone is ~10x past the first goal and
below the second, so no work inside the protocol can meet them; what is the protocol's own is ~2.3x
plain gRPC at 1 KiB (a signature made and checked, ~120 us, codec and checks ~75 us, thread hops) and
~2.5x at 4 MiB (each body copied and hashed on both sides).
The whole bench on that quiet machine (after the framing change): overhead_ratio 1.085 (plain 60.4 s,
job 65.5 s, 35,340 steps, dispatch 0.18 ms per step), bitwise equal; round trip 1,178 us against the
socket's 11 us (105x; plain gRPC in the same shape 502 us, 45x); 4 MiB 0.18x (plain gRPC 0.51x).
With the value step added (same day, quiet): overhead_ratio 1.071 (plain 62.2 s, job 66.6 s, 41,477
steps), bitwise equal; round trip 1,033 us against 10.7 us (97x; plain gRPC 465 us, 44x); 4 MiB 0.21x
(plain gRPC 0.55x); value_step_fraction 2.93 (demo 0.099; 40,000 x 10,000: 8.42 s of valuing against
2.87 s of training), goal 0.05 not met.

Usage (from the repository root):
  .venv/bin/python bench/compute.py [--target-seconds 60] [--unit-steps 100] [--model cnn] [--json]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _report import emit  # bench/ is on sys.path when a script runs
from _transport import measure as measure_transport
from rich.console import Console
from rich.table import Table
from value_step import measure_value_step

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "compute.json"


def plain_loop(spec: Any, data: Any) -> tuple[float, dict[str, torch.Tensor]]:
    from databright.training.models import build_model
    from databright.training.replica import batch_order, deterministic

    deterministic(1)
    model = build_model(spec.model, data.feature_shape, data.n_classes, spec.training.seed)
    opt = torch.optim.SGD(model.parameters(), lr=spec.training.lr, momentum=spec.training.momentum)
    started = time.perf_counter()
    for epoch in range(spec.training.epochs):
        for batch in batch_order(data.n_train, spec.training.batch_size, epoch, spec.training.seed):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(data.x_train[batch])),
                                                     torch.from_numpy(data.y_train[batch]))
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    return time.perf_counter() - started, model.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target-seconds", type=float, default=60.0)
    parser.add_argument("--unit-steps", type=int, default=100)
    parser.add_argument("--model", default="cnn", choices=["mlp", "cnn", "vgg"])
    parser.add_argument("--value-samples", type=int, default=50_000,
                        help="samples of the large job whose value step is timed (bench/value_step.py)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DATABRIGHT_HOME", tempfile.mkdtemp(prefix="databright-bench-"))

    from databright.chain.keys import dev_keys
    from databright.compute.attestation import approve
    from databright.compute.buyer import buyer_spec, fetch_result, submit_job
    from databright.compute.coordinator import Coordinator, chain_admission
    from databright.compute.data import load_registry, prepare
    from databright.compute.gateway import CoordinatorIdentity, Gateway
    from databright.demo.environment import demo_store, seeded_request, split_digits
    from databright.demo.pool import HostedPool
    from databright.market import Market
    from databright.market.units import UNIT

    fixed: dict[str, float] = {}
    t = time.perf_counter()
    market = Market.open("embedded")
    accounts = market.chain.accounts()
    coordinator, buyer, worker = accounts[10], accounts[11], accounts[12]
    with demo_store(market) as store:
        database = seeded_request(market, store, split_digits(1).contributions)
        approve(market.compute, coordinator, coordinator)
        market.as_account(worker).compute.register_worker(UNIT)
        fixed["chain_and_registry_s"] = time.perf_counter() - t
        t = time.perf_counter()
        gateway = Gateway(Path(tempfile.mkdtemp(prefix="databright-bench-gateway-")),
                          CoordinatorIdentity(coordinator, market.chain.chain_id, market.deployment.compute_market),
                          chain_admission(market.compute))
        gateway.start()
        fixed["gateway_s"] = time.perf_counter() - t
        t = time.perf_counter()
        pool = HostedPool(gateway, [dev_keys(market.chain)[worker]])
        handles = pool.handles
        fixed["worker_process_s"] = time.perf_counter() - t

        fields: dict[str, Any] = {"model": {"kind": args.model}, "training": {"epochs": 4, "seed": 0},
                                  "unit_steps": args.unit_steps, "worker_timeout": 600}
        probe = buyer_spec(market.as_account(buyer), fields, database)
        dataset_spec, cids, parts = load_registry(market, store.client(coordinator), database)
        data = prepare(parts, dataset_spec, probe.eval_fraction, probe.training.seed, cids)
        plain_loop(probe, data)  # warm-up: first calls into PyTorch are slow
        four_epochs, _ = plain_loop(probe, data)
        epochs = max(1, int(args.target_seconds / (four_epochs / 4)) + 1)
        fields["training"]["epochs"] = epochs
        spec = buyer_spec(market.as_account(buyer), fields, database)
        plain_s, plain_state = plain_loop(spec, data)

        t = time.perf_counter()
        job_id = submit_job(market.as_account(buyer), store.client(buyer), spec, UNIT, UNIT,
                            market.chain.now() + 24 * 3600).job_id
        with tempfile.TemporaryDirectory() as folder:
            service = Coordinator(market.as_account(coordinator), store.client(coordinator), Path(folder),
                                  workers=lambda: handles)
            [outcome] = service.run_once()
        market_s = time.perf_counter() - t
        assert outcome.status == "completed", outcome
        result = fetch_result(market.as_account(buyer), store.client(buyer), job_id)
        state = torch.load(io.BytesIO(result.model), weights_only=True)
        bitwise = all(torch.equal(plain_state[k], v) for k, v in state.items())
        worker_s = sum(w["seconds"] for w in result.report["workers"])
        pool.stop()
        gateway.stop()
        steps = sum(w["steps"] for w in result.report["workers"])

    transport = measure_transport()
    value_step = measure_value_step(args.value_samples)
    report = {
        "model": args.model, "epochs": epochs, "steps": steps, "unit_steps": args.unit_steps,
        "train_samples": data.n_train, "plain_s": plain_s, "market_job_s": market_s, "worker_compute_s": worker_s,
        "overhead_ratio": market_s / plain_s, "dispatch_ms_per_step": 1000 * (market_s - worker_s) / steps,
        "plain_ms_per_step": 1000 * plain_s / steps, "bitwise_equal": bitwise, "fixed_costs_s": fixed,
        "eval_accuracy": result.report["final"]["eval_accuracy"], **transport,
        "value_step_fraction": value_step["value_step_fraction"], "value_step_jobs": value_step["jobs"],
    }

    def table() -> None:
        out = Table("measure", "value", title=f"compute market overhead ({args.model}, {epochs} epochs, "
                                               f"{steps} steps, 1 worker, 1 thread)")
        for key in ("plain_s", "market_job_s", "worker_compute_s", "overhead_ratio", "dispatch_ms_per_step",
                    "plain_ms_per_step", "bitwise_equal", "eval_accuracy", *transport):
            value = report[key]
            out.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
        for job in value_step["jobs"]:
            out.add_row(f"value step / training, {job['job']} job ({job['train_samples']:,} x {job['eval_samples']:,})",
                        f"{job['value_s']:.2f} s / {job['train_s']:.2f} s = {job['fraction']:.3f}")
        out.add_row("value_step_fraction (goal <= 0.05)", f"{value_step['value_step_fraction']:.3f}")
        for key, value in fixed.items():
            out.add_row(f"fixed: {key}", f"{value:.2f}")
        Console().print(out)

    emit(report, RESULTS, args.json, table)


if __name__ == "__main__":
    main()
