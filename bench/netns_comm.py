"""The paper table's communication column measured between hosts: `bench/paper_table.py --netns`.

The coordinator (this process: `JobRunner` and the gRPC gateway) runs on testbed host `c`, and each of two
worker processes on its own host (`w0`, `w1`); every link is shaped to --rate-mbit (default 1 Gbit/s,
`tbf` on both ends, see `databright.testbed`). The configurations with traffic between workers are run
on the paper table's model and images (its `generated_images` and `make_spec`), a one-epoch warm-up job
on a slice first, then the measured run:

  standard-2   two data-parallel workers: gradient shares to the coordinator, their sum back
  split-2      two stages: activations and gradients cross at the cut, through the coordinator

Per configuration, over the measured run (B batches):
  link_bytes_per_batch  bytes each host's link carried per batch, each way (tx, rx), from the link's own
                        counters (`Testbed.link_bytes`: every header, TLS record and handshake included)
  floor_ms_per_batch    the busiest link direction's bytes per batch / the link rate: no transport can
                        move a batch's traffic faster (each direction of a link has its own `tbf`)
  comm_ms_per_batch     wall time per batch minus the busiest worker's training CPU per batch, as in
                        bench/paper_table.py: transport, the coordinator's hashing and forwarding, pipeline
                        bubbles and the stages' imbalance; transfers hidden behind a stage's compute do
                        not count, so it can be below the floor
  comm_floor_ratio      comm_ms_per_batch / floor_ms_per_batch; `netns_comm_floor_ratio` is split-2's
                        (goal <= 1.5)
  cores_busy            CPU of this process and its descendants (coordinator and workers) / elapsed time,
                        in cores; other_cores_busy the rest of the machine's: near 2 on this 2-vCPU
                        machine would mean communication is waiting for a core, not for the link

Usage (from the repository root; needs root for the network namespaces):
  .venv/bin/python bench/paper_table.py --netns [--epochs 1] [--samples 1024] [--rate-mbit 1000] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from _report import emit  # bench/ is on sys.path when a script runs
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "paper_table_netns.json"
HOSTS = ("c", "w0", "w1")
CONFIGS: dict[str, tuple[int, dict[str, Any]]] = {
    "standard-2": (2, {}),
    "split-2": (1, {"split_stages": 2}),
}
log = Console(stderr=True)


def run_measured(testbed: Any, name: str, spec: Any, data: Any, pool: list[Any]) -> dict[str, Any]:
    """Trains `spec` with `JobRunner` on `pool`; wall time without the final evaluation, the workers'
    counters, and what every host's link carried meanwhile."""
    from paper_table import Supply, cpu_meter, timed_runner

    [h.traffic().result(60) for h in pool]  # every counter from zero
    supply = Supply(pool)
    links_before = {h: testbed.link_bytes(h) for h in HOSTS}
    with tempfile.TemporaryDirectory(prefix="paper-table-netns-") as folder:
        runner = timed_runner(name, spec, data, supply, Path(folder))
        cpu_window = cpu_meter()
        started = time.perf_counter()
        runner.run()
        wall = time.perf_counter() - started - runner.eval_s
        cores = cpu_window()
    links = {h: tuple(a - b for a, b in zip(testbed.link_bytes(h), links_before[h], strict=True)) for h in HOSTS}
    traffic = {a: h.traffic().result(60) for a, h in supply.given.items()}
    return {"wall": wall, "links": links, "traffic": traffic, "cores_busy": cores["own_cores"],
            "other_cores_busy": cores["other_cores"]}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from paper_table import generated_images, make_spec

    from databright.compute.gateway import CoordinatorIdentity, Gateway, admit_all
    from databright.demo.pool import HostedPool, dev_keys
    from databright.testbed import Shaping, Testbed

    rate_bits = args.rate_mbit * 1e6
    data = generated_images(args.samples, args.eval_samples, seed=0)
    warm = replace(data, x_train=data.x_train[:args.warm_up_samples], y_train=data.y_train[:args.warm_up_samples],
                   entry_of_train=data.entry_of_train[:args.warm_up_samples])
    batches = args.epochs * -(-data.n_train // args.batch_size)
    rows = []
    with Testbed(list(HOSTS), Shaping(rate=f"{args.rate_mbit}mbit")) as testbed, testbed.on("c"):
        gateway = Gateway(Path(tempfile.mkdtemp(prefix="paper-table-netns-gateway-")),
                          CoordinatorIdentity("0x" + "10" * 20, 1, "0x" + "20" * 20), admit_all,
                          host=testbed.address("c"))
        gateway.start()  # its thread (and so its listening socket) is born on host c
        for worker in HOSTS[1:]:
            testbed.checked(worker, "c")

        def launch(i: int, argv: list[str]) -> subprocess.Popen[str]:
            return testbed.popen(HOSTS[1 + i], argv, stdin=subprocess.PIPE, text=True)

        hosted = HostedPool(gateway, dev_keys([f"paper-table-netns-{i}" for i in range(2)]), processes=2,
                            launch=launch)
        try:
            for config, (workers, protections) in CONFIGS.items():
                if "split_stages" in protections:
                    protections = {**protections, "micro_batches": args.micro_batches}
                run_measured(testbed, f"{config}-warm-up", make_spec(args, 1, workers, None, **protections), warm,
                             hosted.handles)
                r = run_measured(testbed, config, make_spec(args, args.epochs, workers, None, **protections), data,
                                 hosted.handles)
                busiest_cpu = max(t.get("cpu_s", 0.0) for t in r["traffic"].values())
                per_batch = {h: [b / batches for b in r["links"][h]] for h in HOSTS}
                floor_ms = 1000 * max(max(v) for v in per_batch.values()) * 8 / rate_bits
                comm_ms = 1000 * (r["wall"] - busiest_cpu) / batches
                rows.append({"config": config, "workers": len(r["traffic"]), "epoch_s": r["wall"] / args.epochs,
                             "link_bytes_per_batch": per_batch, "floor_ms_per_batch": floor_ms,
                             "comm_ms_per_batch": comm_ms, "comm_floor_ratio": comm_ms / floor_ms,
                             "busiest_worker_cpu_ms_per_batch": 1000 * busiest_cpu / batches,
                             "cores_busy": r["cores_busy"], "other_cores_busy": r["other_cores_busy"]})
                log.print(f"{config}: {args.epochs} epochs {r['wall']:.1f} s")
        finally:
            hosted.stop()
            gateway.stop()
    by = {row["config"]: row for row in rows}
    return {"rate_mbit": args.rate_mbit, "link": f"tbf rate {args.rate_mbit}mbit burst 256kb latency 50ms each end",
            "epochs": args.epochs, "samples": args.samples, "batches": batches, "rows": rows,
            "netns_comm_floor_ratio": by["split-2"]["comm_floor_ratio"]}


def main(args: argparse.Namespace) -> None:
    """`paper_table.py --netns`: its arguments (model, images, batch) and --rate-mbit."""
    from databright.testbed import unavailable_reason

    missing = unavailable_reason()
    if missing is not None:
        log.print(f"paper_table.py --netns not run: {missing}")
        return
    report = measure(args)

    def table() -> None:
        t = Table(title=f"communication over {args.rate_mbit} Mbit/s links (coordinator and workers on own hosts)")
        for column in ("config", "busiest link MB/batch", "floor ms/batch", "comm ms/batch", "ratio", "epoch s"):
            t.add_column(column, justify="left" if column == "config" else "right")
        for row in report["rows"]:
            busiest = max(max(v) for v in row["link_bytes_per_batch"].values())
            t.add_row(row["config"], f"{busiest / 1e6:.2f}", f"{row['floor_ms_per_batch']:.1f}",
                      f"{row['comm_ms_per_batch']:.1f}", f"{row['comm_floor_ratio']:.2f}", f"{row['epoch_s']:.1f}")
        Console().print(t)
        Console().print(f"netns_comm_floor_ratio (split-2) = {report['netns_comm_floor_ratio']:.2f} (goal <= 1.5)")

    emit(report, RESULTS, args.json, table)
