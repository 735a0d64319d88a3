"""A coordinator and workers on separate hosts, simulated by network namespaces on this machine.

Layout of one testbed (X is the testbed's own /24, chosen when it starts):

    host "c"  [eth0 10.213.X.10] ==veth== [p-c ]
    host "w0" [eth0 10.213.X.11] ==veth== [p-w0]--- br0 (a bridge in the testbed's own namespace)
    host "w1" [eth0 10.213.X.12] ==veth== [p-w1]

Every namespace, veth and qdisc is created inside the testbed's namespaces (`ip -n`, veths born with
their ends already in place), so nothing is ever added to the root namespace: its links and routes are
the same before, during and after. No namespace has a default route, and `route_check` refuses any
address the kernel would not send through the host's `eth0`, before a connect, so a broken set-up can
never put a packet on the machine's real network. Each link is shaped on both ends (egress of the host's
`eth0` and of its bridge port) by `tbf` (default 1 Gbit/s), with an optional netem delay below it.

Names carry the subnet number and the owner's pid (`dbtb<X>.<pid>.<host>`): two test processes
(pytest-xdist) allocate under a file lock and never share a name or a subnet, and a testbed left by a
process that died is swept away by the next allocation.
"""

from __future__ import annotations

import atexit
import fcntl
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from databright.testbed._sys import alive, end, entered, ip, kill, namespaces, tc, tool
from databright.testbed.errors import RouteRefused, TestbedError

PREFIX = "dbtb"
_NAME = re.compile(rf"^{PREFIX}(\d+)\.(\d+)\.")
_HOST_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")
LOCK = "/run/databright-testbed.lock"
SUBNETS = "10.213.{x}.0/24"
HOST_DEV = "eth0"
_open: set[Testbed] = set()


@dataclass(frozen=True)
class Shaping:
    """What `tc` puts on each end of every link: a token bucket and, optionally, an added delay.

    `delay_ms` is added on each end's egress, so one crossing of a link gains `delay_ms` each way and a
    packet from one host to another (two links, through the bridge) gains twice that. Adding a delay
    needs the kernel's netem qdisc; a kernel without it makes `Testbed.start` fail with a clear error.
    """

    rate: str = "1gbit"
    burst: str = "256kb"
    latency: str = "50ms"
    delay_ms: float = 0.0


@dataclass(frozen=True)
class Host:
    """One simulated machine: its namespace, its address, and the bridge port its cable plugs into."""

    name: str
    netns: str
    address: str
    port: str  # the veth end in the bridge's namespace


def unavailable_reason() -> str | None:
    """Why this machine cannot build a testbed (not Linux, not root, no iproute2), or None if it can."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"network namespaces need root (running as uid {os.geteuid()})"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"network namespaces need iproute2 ({' and '.join(missing)} not found)"
    return None


class Testbed:
    """Builds the hosts, runs processes and sockets on them, cuts and restores links, and tears it all down.

    Use as a context manager (or `start()`/`close()`): the teardown runs whatever happened in the body,
    ends every process started on the hosts, and deletes every namespace (and so every veth and qdisc).
    """

    __test__ = False  # a pytest collection hint: not a test class, whatever its name says

    def __init__(self, hosts: Sequence[str], shaping: Shaping | None = None) -> None:
        if not hosts or len(set(hosts)) != len(hosts) or len(hosts) > 200:
            raise TestbedError("a testbed needs 1 to 200 distinct host names")
        for name in hosts:
            if not _HOST_NAME.match(name) or name == "br":
                raise TestbedError(f"host name {name!r}: use 1-10 lowercase letters and digits, not 'br'")
        self.names = list(hosts)
        self.shaping = shaping or Shaping()
        self.subnet: ipaddress.IPv4Network | None = None
        self.bridge_ns = ""
        self.hosts: dict[str, Host] = {}
        self._procs: list[subprocess.Popen[Any]] = []

    # -- life cycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Testbed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Testbed:
        """Claims a subnet, then builds the bridge and every host; on any failure, removes what it built."""
        reason = unavailable_reason()
        if reason:
            raise TestbedError(reason)
        x = self._claim()
        _open.add(self)
        try:
            self._build(x)
        except BaseException:
            self.close()
            raise
        return self

    def _claim(self) -> int:
        """Under the lock: sweeps testbeds of dead owners, picks a free X, creates the bridge namespace."""
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = set()
            for name in namespaces():
                found = _NAME.match(name)
                if found is None:
                    continue
                if alive(int(found.group(2))):
                    used.add(int(found.group(1)))
                else:
                    ip("netns", "delete", name, check=False)
            free = [x for x in range(256) if x not in used]
            if not free:
                raise TestbedError("all 256 testbed subnets are in use")
            x = free[os.getpid() % len(free)]
            self.bridge_ns = f"{PREFIX}{x}.{os.getpid()}.br"
            ip("netns", "add", self.bridge_ns)
        return x

    def _build(self, x: int) -> None:
        self.subnet = ipaddress.IPv4Network(SUBNETS.format(x=x))
        br = self.bridge_ns
        ip("link", "add", "br0", "type", "bridge", netns=br)
        ip("link", "set", "br0", "up", netns=br)
        for i, name in enumerate(self.names):
            host = Host(name, f"{PREFIX}{x}.{os.getpid()}.{name}", str(self.subnet[10 + i]), f"p-{name}")
            ip("netns", "add", host.netns)
            self.hosts[name] = host
            ip("link", "add", host.port, "type", "veth", "peer", "name", HOST_DEV, "netns", host.netns, netns=br)
            ip("link", "set", host.port, "master", "br0", netns=br)
            ip("addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", HOST_DEV, netns=host.netns)
            for dev, ns in ((HOST_DEV, host.netns), ("lo", host.netns), (host.port, br)):
                ip("link", "set", dev, "up", netns=ns)
            self._shape(HOST_DEV, host.netns)
            self._shape(host.port, br)

    def _shape(self, dev: str, netns: str) -> None:
        s = self.shaping
        tc("qdisc", "add", "dev", dev, "root", "handle", "1:", "tbf",
           "rate", s.rate, "burst", s.burst, "latency", s.latency, netns=netns)
        if s.delay_ms > 0:
            try:
                tc("qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:", "netem",
                   "delay", f"{s.delay_ms}ms", "limit", "100000", netns=netns)
            except TestbedError as exc:
                raise TestbedError(f"an added delay needs the kernel's netem qdisc (sch_netem): {exc}") from exc

    def close(self) -> None:
        """Ends the processes started on the hosts, then deletes every namespace of this testbed."""
        for proc in self._procs:
            end(proc)
        self._procs.clear()
        failures = []
        for netns in [h.netns for h in self.hosts.values()] + ([self.bridge_ns] if self.bridge_ns else []):
            if netns in namespaces():
                for pid in ip("netns", "pids", netns, check=False).split():
                    kill(int(pid))  # only processes started on this testbed's hosts can be in there
                try:
                    ip("netns", "delete", netns)
                except TestbedError as exc:  # go on with the others, then say what is left
                    failures.append(str(exc))
        self.hosts.clear()
        self.bridge_ns = ""
        _open.discard(self)
        if failures:
            raise TestbedError("teardown left namespaces behind: " + "; ".join(failures))

    def leftovers(self) -> list[str]:
        """Namespaces still named after this process's testbeds (empty after every close)."""
        return [n for n in namespaces() if (m := _NAME.match(n)) and int(m.group(2)) == os.getpid()]

    # -- addresses and routes -------------------------------------------------------------------------

    def address(self, host: str) -> str:
        return self.hosts[host].address

    def route_check(self, source: str, address: str) -> None:
        """Refuses `address` unless it is in this testbed and the kernel would send it via `source`'s link.

        Asked inside `source`'s namespace (`ip -n NS route get`), so it is the route a connect from there
        would take. Loopback addresses are allowed: they never leave the host's namespace.
        """
        if self.subnet is None:
            raise TestbedError("the testbed is not started")
        try:
            addr = ipaddress.IPv4Address(address)
        except ValueError as exc:
            raise RouteRefused(f"{address!r} is not an IPv4 address") from exc
        if not (addr.is_loopback or addr in self.subnet):
            raise RouteRefused(f"{address} is outside this testbed's subnet {self.subnet}: no connection made")
        try:
            route = ip("-o", "route", "get", address, netns=self.hosts[source].netns).split()
        except TestbedError as exc:
            raise RouteRefused(f"{address}: no route from host {source!r} ({exc})") from exc
        dev = route[route.index("dev") + 1] if "dev" in route else ""
        local = route[:1] == ["local"]
        if not ((dev == HOST_DEV and not local) or (dev == "lo" and local)):
            raise RouteRefused(f"{address}: host {source!r} would route it via {dev or '?'}, not the testbed")

    def checked(self, source: str, target: str) -> str:
        """`target`'s address, after checking that `source` reaches it through the testbed."""
        address = self.address(target)
        self.route_check(source, address)
        return address

    # -- sockets and processes on a host ---------------------------------------------------------------

    def on(self, host: str) -> AbstractContextManager[None]:
        """The body runs with this thread on `host` (its namespace): sockets it creates, threads it starts
        and processes it forks belong to that host for their whole life."""
        return entered(self.hosts[host].netns)

    def listen(self, host: str, port: int = 0, backlog: int = 16) -> socket.socket:
        """A listening TCP socket of `host` on its testbed address (port 0: the kernel picks)."""
        with entered(self.hosts[host].netns):
            sock = socket.create_server((self.address(host), port), backlog=backlog)
        return sock

    def connect(self, source: str, address: str, port: int, timeout: float = 5.0) -> socket.socket:
        """A TCP connection from `source` to `address:port`, made only after `route_check` passed."""
        self.route_check(source, address)
        with entered(self.hosts[source].netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((address, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def popen(self, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Starts `argv` on `host` (`ip netns exec`), in its own session so teardown can end all it starts."""
        # the caller's own command (a test's or a bench's), run on its own testbed's host
        proc = subprocess.Popen([tool("ip"), "netns", "exec", self.hosts[host].netns, *argv],  # noqa: S603
                                start_new_session=True, **kwargs)
        self._procs.append(proc)
        return proc

    def run(self, host: str, argv: Sequence[str], timeout: float = 120.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Runs `argv` on `host` to completion and returns its captured output."""
        return subprocess.run([tool("ip"), "netns", "exec", self.hosts[host].netns, *argv],  # noqa: S603
                              capture_output=True, text=True, timeout=timeout, check=False, env=env)

    # -- faults ---------------------------------------------------------------------------------------

    def cut(self, host: str) -> None:
        """Pulls `host`'s cable at the bridge: its port goes down, packets both ways vanish silently."""
        ip("link", "set", self.hosts[host].port, "down", netns=self.bridge_ns)

    def restore(self, host: str) -> None:
        """Plugs the cable back in (the host's own configuration was never touched)."""
        ip("link", "set", self.hosts[host].port, "up", netns=self.bridge_ns)

    @contextmanager
    def partitioned(self, *hosts: str) -> Iterator[None]:
        """Cuts each of `hosts` off from every other host for the body, then restores them."""
        for host in hosts:
            self.cut(host)
        try:
            yield
        finally:
            for host in hosts:
                self.restore(host)

    def link_bytes(self, host: str) -> tuple[int, int]:
        """Bytes `host` has sent and received on its link so far (its eth0's counters: every header,
        handshake and retransmission included, as a network card counts them)."""
        stats = json.loads(ip("-s", "-j", "link", "show", HOST_DEV, netns=self.hosts[host].netns))[0]["stats64"]
        return int(stats["tx"]["bytes"]), int(stats["rx"]["bytes"])

    def qdiscs(self, host: str) -> tuple[str, str]:
        """`tc qdisc show` of both ends of `host`'s link (host side, bridge side), to check the shaping."""
        return (tc("qdisc", "show", "dev", HOST_DEV, netns=self.hosts[host].netns),
                tc("qdisc", "show", "dev", self.hosts[host].port, netns=self.bridge_ns))


@atexit.register
def _close_all() -> None:
    """A testbed never outlives its process, even when a test run is interrupted."""
    for testbed in list(_open):
        testbed.close()

