"""The network baseline the worker protocol is judged against: raw sockets and plain gRPC, two paths.

For each path (loopback on this host; and across two testbed hosts, i.e. network namespaces joined through
a bridge by 1 Gbit/s `tbf`-shaped links, see `databright.testbed`) and each transport (raw TCP; the same
framing inside TLS, to show TLS's own share; gRPC with TLS as a unary call; gRPC with TLS as a
bidirectional stream), it measures:

  rtt_us     median round trip of a 1 KiB message echoed back, one connection kept open
  tput_mib_s throughput of 4 MiB messages sent one after another, each acknowledged (8 bytes)

The far end is another process (`bench/_echo.py serve`; on the second host for the testbed path), the near
end too (`bench/_echo.py client`, on the first host). Rounds are interleaved (every path and transport
once per round, in turn) and the medians of the rounds are reported, so the transports are compared under
the same load; the machine is shared, compare only within one run. gRPC's ratios to raw TCP are the
numbers the worker protocol's (issue 15 goals: round trip <= 4x the socket's, 4 MiB throughput >= 0.8x)
are set against. Without network namespaces (not root) only the loopback path is measured, and it says so.

Usage (from the repository root):
  .venv/bin/python bench/netlink.py [--rounds 5] [--pings 1000] [--messages 12] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _report import emit  # bench/ is on sys.path when a script runs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table

from databright.testbed import Testbed, unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "netlink.json"
ECHO = str(ROOT / "bench" / "_echo.py")
KINDS = ["tcp", "tls", "grpc-unary", "grpc-stream"]


def self_signed(folder: Path, addresses: list[str]) -> tuple[Path, Path]:
    """A P-256 certificate for the far end's addresses, trusted by the near end as its only root."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netlink-bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class EchoPair:
    """One path: a far end serving, a near end taking commands; both as processes (maybe on testbed hosts)."""

    def __init__(self, stack: ExitStack, launch: Any, far_host: str, cert: Path, key: Path) -> None:
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
        self.server = launch("far", [sys.executable, ECHO, "serve", "--host", far_host,
                                     "--cert", str(cert), "--key", str(key)], **pipes)
        stack.callback(self._end, self.server)
        ports = self.server.stdout.readline()
        self.client = launch("near", [sys.executable, ECHO, "client", "--host", far_host,
                                      "--cert", str(cert), "--ports", ports.strip()], **pipes)
        stack.callback(self._end, self.client)

    def ask(self, kind: str, what: str, n: int) -> float:
        self.client.stdin.write(f"{kind} {what} {n}\n")
        self.client.stdin.flush()
        line = self.client.stdout.readline()
        if not line:
            raise RuntimeError(f"the client end stopped while measuring {kind} {what}")
        return float(json.loads(line)["value"])

    @staticmethod
    def _end(proc: subprocess.Popen[str]) -> None:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    missing = unavailable_reason()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="netlink-")))
        paths: dict[str, EchoPair] = {}
        if missing is None:
            testbed = stack.enter_context(Testbed(["near", "far"]))
            far = testbed.checked("near", "far")
            cert, key = self_signed(folder, ["127.0.0.1", far])
            paths["netns_1gbit"] = EchoPair(stack, testbed.popen, far, cert, key)
        else:
            cert, key = self_signed(folder, ["127.0.0.1"])
            print(f"note: only loopback measured: {missing}", file=sys.stderr)
        paths["loopback"] = EchoPair(stack, lambda _host, argv, **kw: subprocess.Popen(argv, **kw),
                                  "127.0.0.1", cert, key)
        samples: dict[str, dict[str, dict[str, list[float]]]] = {
            p: {k: {"rtt_us": [], "tput_mib_s": []} for k in KINDS} for p in paths}
        for _ in range(args.rounds):
            for name, path in paths.items():
                for kind in KINDS:
                    samples[name][kind]["rtt_us"].append(path.ask(kind, "rtt", args.pings))
                    samples[name][kind]["tput_mib_s"].append(path.ask(kind, "tput", args.messages))
    report = build_report(samples, args)
    emit(report, RESULTS, args.json, lambda: print_table(report))


def build_report(samples: dict[str, dict[str, dict[str, list[float]]]], args: argparse.Namespace) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for name, kinds in samples.items():
        med = {k: {m: statistics.median(v) for m, v in ms.items()} for k, ms in kinds.items()}
        paths[name] = {
            **{k: {**med[k], "rounds": kinds[k]} for k in KINDS},
            "tls_rtt_ratio": med["tls"]["rtt_us"] / med["tcp"]["rtt_us"],
            "tls_tput_ratio": med["tls"]["tput_mib_s"] / med["tcp"]["tput_mib_s"],
            "grpc_stream_rtt_ratio": med["grpc-stream"]["rtt_us"] / med["tcp"]["rtt_us"],
            "grpc_unary_rtt_ratio": med["grpc-unary"]["rtt_us"] / med["tcp"]["rtt_us"],
            "grpc_stream_tput_ratio": med["grpc-stream"]["tput_mib_s"] / med["tcp"]["tput_mib_s"],
            "grpc_unary_tput_ratio": med["grpc-unary"]["tput_mib_s"] / med["tcp"]["tput_mib_s"],
        }
    return {"rounds": args.rounds, "pings_per_round": args.pings, "messages_4mib_per_round": args.messages,
            "link": "tbf rate 1gbit burst 256kb latency 50ms on each end" if "netns_1gbit" in paths else None,
            "paths": paths}


def print_table(report: dict[str, Any]) -> None:
    table = Table(title=f"network baseline (median of {report['rounds']} interleaved rounds)")
    for column in ("path", "transport", "1 KiB round trip µs", "vs tcp", "4 MiB MiB/s", "vs tcp"):
        table.add_column(column, justify="left" if column in ("path", "transport") else "right")
    for name, path in report["paths"].items():
        tcp = path["tcp"]
        for kind in KINDS:
            row = path[kind]
            table.add_row(name, kind, f"{row['rtt_us']:.0f}", f"{row['rtt_us'] / tcp['rtt_us']:.2f}",
                          f"{row['tput_mib_s']:.0f}", f"{row['tput_mib_s'] / tcp['tput_mib_s']:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
