"""Throughput and peak memory of exact KNN-Shapley (databright.valuation) against pyDVL 0.10, same data.

For each training-set size N (default 10k, 100k, 1M; 64 features; 100 validation points; 10 classes;
K = 5), every run happens in a fresh subprocess so that its peak RSS (VmHWM from /proc/self/status) is
its own: the data (generated from a fixed seed, identical for both libraries), python, numpy and the
valuation. `data_mem_mb` is the RSS just before the valuation starts, so peak - data is the valuation's
own working memory.

  pairs_per_s         train x validation pairs per second of KNNShapley(k=5, n_jobs=2).fit, best of --repeat
                      runs after one warm-up run (whose time is `cold_seconds`)
  pydvl_pairs_per_s   the same for pyDVL's KNNShapleyValuation (its defaults: one joblib job), one run
  max_abs_diff        largest |ours - pyDVL| over the N values

pyDVL runs only up to --pydvl-max-n (default 100k): at ~0.5M pairs/s it would need over 3 minutes and
1.6 GB of (validation x N) arrays at N = 1M, so that row reports null and the estimate is printed.
Results go to bench/results/valuation.json as well.

Usage (from the repository root):
  .venv/bin/python bench/valuation.py [--sizes 10k,100k,1M] [--repeat 3] [--pydvl-max-n 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _report import emit  # bench/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "valuation.json"


def proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_data(n: int, t: int, d: int, classes: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x_train = rng.standard_normal((n, d))
    x_test = rng.standard_normal((t, d))
    return x_train, rng.integers(0, classes, n), x_test, rng.integers(0, classes, t)


def worker(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints a JSON line and saves the values to --out."""
    data = make_data(args.n, args.test, args.features, args.classes, args.seed)
    data_mb = proc_status_mb("VmRSS")
    if args.worker == "ours":
        from databright.valuation import KNNShapley

        times = []
        for _ in range(args.repeat + 1):  # the first run warms BLAS threads and the allocator up: reported apart
            start = time.perf_counter()
            values = KNNShapley(k=args.k, n_jobs=args.jobs).fit(*data).result_.values
            times.append(time.perf_counter() - start)
        cold, best = times[0], min(times[1:])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pydvl.valuation.dataset import Dataset
            from pydvl.valuation.methods.knn_shapley import KNNShapleyValuation
            from sklearn.neighbors import KNeighborsClassifier

            x_train, y_train, x_test, y_test = data
            start = time.perf_counter()
            model = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=args.k), Dataset(x_test, y_test),
                                        progress=False)
            result = model.fit(Dataset(x_train, y_train)).result
            best = cold = time.perf_counter() - start
            values = np.empty(args.n)
            values[np.asarray(result.indices)] = result.values
    np.save(args.out, values)
    print(json.dumps({"seconds": best, "cold_seconds": cold, "peak_mem_mb": proc_status_mb("VmHWM"),
                      "data_mem_mb": data_mb}))


def run(kind: str, n: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", kind, "--n", str(n), "--out", str(out),
           "--test", str(args.test), "--features", str(args.features), "--classes", str(args.classes),
           "--k", str(args.k), "--seed", str(args.seed), "--repeat", str(args.repeat), "--jobs", str(args.jobs)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    pydvl_rate: float | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            pairs = n * args.test
            ours = run("ours", n, args, Path(tmp) / "ours.npy")
            row: dict[str, Any] = {
                "n": n, "pairs_per_s": pairs / ours["seconds"], "pydvl_pairs_per_s": None, "max_abs_diff": None,
                "peak_mem_mb": ours["peak_mem_mb"], "seconds": ours["seconds"], "cold_seconds": ours["cold_seconds"],
                "data_mem_mb": ours["data_mem_mb"],
                "pydvl_seconds": None, "pydvl_peak_mem_mb": None, "speedup": None,
            }
            if not args.no_pydvl and n <= args.pydvl_max_n:
                theirs = run("pydvl", n, args, Path(tmp) / "pydvl.npy")
                diff = np.abs(np.load(Path(tmp) / "ours.npy") - np.load(Path(tmp) / "pydvl.npy")).max()
                pydvl_rate = pairs / theirs["seconds"]
                row |= {"pydvl_pairs_per_s": pydvl_rate, "max_abs_diff": float(diff),
                        "pydvl_seconds": theirs["seconds"], "pydvl_peak_mem_mb": theirs["peak_mem_mb"],
                        "speedup": row["pairs_per_s"] / pydvl_rate}
            elif not args.no_pydvl:
                estimate = f"~{pairs / pydvl_rate:.0f} s at its measured rate" if pydvl_rate else "too long"
                notes.append(f"pyDVL skipped at N={n} (> --pydvl-max-n {args.pydvl_max_n}; {estimate})")
            rows.append(row)
    return {
        "features": args.features, "validation_points": args.test, "k": args.k, "classes": args.classes,
        "n_jobs": args.jobs, "repeat": args.repeat, "cpus": os.cpu_count(), "rows": rows, "notes": notes,
    }


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def num(value: float | None, fmt: str, suffix: str = "") -> str:
        return "-" if value is None else format(value, fmt) + suffix

    table = Table(title=f"Exact KNN-Shapley, {report['features']} features, {report['validation_points']} "
                        f"validation points, K={report['k']}, {report['cpus']} CPUs")
    for col in ("N", "pairs/s", "pyDVL pairs/s", "speedup", "max |diff|", "peak MB", "data MB", "pyDVL peak MB"):
        table.add_column(col, justify="right")
    for r in report["rows"]:
        table.add_row(f"{r['n']:,}", num(r["pairs_per_s"] / 1e6, ".2f", "M"),
                      num(r["pydvl_pairs_per_s"] and r["pydvl_pairs_per_s"] / 1e6, ".3f", "M"),
                      num(r["speedup"], ".1f", "x"), num(r["max_abs_diff"], ".1e"), num(r["peak_mem_mb"], ".0f"),
                      num(r["data_mem_mb"], ".0f"), num(r["pydvl_peak_mem_mb"], ".0f"))
    Console(width=140).print(table)
    for note in report["notes"]:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10k,100k,1M", help="training-set sizes, comma-separated")
    parser.add_argument("--test", type=int, default=100, help="validation points")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="KNNShapley n_jobs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours per size (best is kept)")
    parser.add_argument("--pydvl-max-n", type=int, default=100_000, help="largest N pyDVL is run at")
    parser.add_argument("--no-pydvl", action="store_true", help="measure databright only")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--worker", choices=["ours", "pydvl"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    report = measure(args)
    emit(report, RESULTS, args.json, lambda: print_table(report))


if __name__ == "__main__":
    main()
