"""The testbed itself: hosts reach each other only through the bridge, faults behave as on real cables,
and teardown leaves nothing behind. Behaviour only; link throughput is measured by bench/netlink.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from databright.testbed import RouteRefused, Shaping, Testbed, TestbedError
from databright.testbed._sys import ip, namespaces
from databright.testbed.netns import PREFIX

from .conftest import MakeTestbed


def _root_links() -> set[str]:
    """Interface names of the root namespace (the testbed must never add one)."""
    return {line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link").splitlines()}


def _accept_one(server: socket.socket) -> tuple[threading.Thread, list[socket.socket]]:
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    return thread, accepted


def test_hosts_talk_over_the_bridge(testbed: Testbed) -> None:
    server = testbed.listen("w0")
    thread, accepted = _accept_one(server)
    with testbed.connect("c", testbed.checked("c", "w0"), server.getsockname()[1]) as client:
        thread.join(5)
        client.sendall(b"unit 1")
        assert accepted[0].recv(100) == b"unit 1"
        assert accepted[0].getpeername()[0] == testbed.address("c")
    server.close()
    accepted[0].close()


def _recv_all(sock: socket.socket, n: int) -> int:
    got = 0
    while got < n and (chunk := sock.recv(1 << 20)):
        got += len(chunk)
    return got


def test_link_counters_count_what_crosses_the_link(testbed: Testbed) -> None:
    server = testbed.listen("w0")
    thread, accepted = _accept_one(server)
    sent_before, _ = testbed.link_bytes("c")
    _, w1_before = testbed.link_bytes("w1")
    with testbed.connect("c", testbed.address("w0"), server.getsockname()[1]) as client:
        thread.join(5)
        got = []
        reader = threading.Thread(target=lambda: got.append(_recv_all(accepted[0], 1_000_000)), daemon=True)
        reader.start()
        client.sendall(bytes(1_000_000))
        reader.join(10)
        assert got == [1_000_000]
    sent, _ = testbed.link_bytes("c")
    _, received = testbed.link_bytes("w0")
    assert 1_000_000 < sent - sent_before < 1_100_000  # the payload and its TCP/IP headers, nothing twice
    assert received >= 1_000_000
    assert testbed.link_bytes("w1")[1] - w1_before < 10_000  # the bridge learned: w1 saw none of it
    server.close()
    accepted[0].close()


def test_addresses_are_private_and_distinct(testbed: Testbed) -> None:
    assert testbed.subnet is not None and testbed.subnet.is_private
    addresses = [testbed.address(h) for h in ("c", "w0", "w1")]
    assert len(set(addresses)) == 3
    for host in ("c", "w0", "w1"):
        shown = testbed.run(host, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
        assert f"{testbed.address(host)}/24" in shown
        assert testbed.run(host, ["ip", "route", "show", "default"]).stdout == ""  # nowhere else to go


@pytest.mark.parametrize("address", ["8.8.8.8", "192.0.2.1", "10.213.0.1", "::1", "c"])
def test_route_check_refuses_addresses_outside_the_testbed(testbed: Testbed, address: str) -> None:
    with pytest.raises(RouteRefused):
        testbed.connect("c", address, 80, timeout=0.5)


def test_route_check_refuses_a_route_that_does_not_use_the_link(testbed: Testbed) -> None:
    """A set-up gone wrong (here: a route of the subnet sent elsewhere) is refused before any connect."""
    assert testbed.subnet is not None
    stray = str(testbed.subnet[200])
    testbed.route_check("c", stray)  # via eth0: allowed
    ip("route", "add", f"{stray}/32", "dev", "lo", netns=testbed.hosts["c"].netns)
    with pytest.raises(RouteRefused, match="via lo"):
        testbed.route_check("c", stray)
    testbed.route_check("c", "127.0.0.1")  # the host's own loopback stays usable


def test_links_are_shaped_on_both_ends(make_testbed: MakeTestbed) -> None:
    testbed = make_testbed(["a", "b"], Shaping(rate="200mbit"))
    for side in testbed.qdiscs("a"):
        assert "tbf" in side and "rate 200Mbit" in side and "lat 50ms" in side


def test_an_added_delay_is_netem_or_a_clear_refusal(make_testbed: MakeTestbed) -> None:
    try:
        testbed = make_testbed(["a", "b"], Shaping(delay_ms=5))
    except TestbedError as exc:  # this kernel has no sch_netem: refused, and nothing left behind
        assert "netem" in str(exc)
        assert not [n for n in namespaces() if n.startswith(f"{PREFIX}") and f".{os.getpid()}." in n]
        return
    for side in testbed.qdiscs("a"):
        assert "netem" in side and "delay 5ms" in side


def test_a_cut_link_silences_a_connection_and_restoring_it_heals(testbed: Testbed) -> None:
    server = testbed.listen("w0")
    port = server.getsockname()[1]
    thread, accepted = _accept_one(server)
    client = testbed.connect("c", testbed.address("w0"), port)
    thread.join(5)
    peer = accepted[0]
    testbed.cut("c")
    client.sendall(b"lost in the cable")
    peer.settimeout(0.5)
    with pytest.raises(TimeoutError):
        peer.recv(100)  # nothing crosses a cut link
    with pytest.raises(OSError):
        testbed.connect("c", testbed.address("w0"), port, timeout=0.5)  # and no new connection is made
    testbed.route_check("w1", testbed.address("w0"))
    other = testbed.connect("w1", testbed.address("w0"), port)  # the other hosts still talk
    other.close()
    testbed.restore("c")
    peer.settimeout(15)
    assert peer.recv(100) == b"lost in the cable"  # TCP's retransmission gets through once restored
    testbed.connect("c", testbed.address("w0"), port, timeout=5).close()
    for sock in (client, peer, server):
        sock.close()


def test_partition_isolates_a_host_only_for_its_body(testbed: Testbed) -> None:
    server = testbed.listen("c")
    port = server.getsockname()[1]
    with testbed.partitioned("c"):
        for worker in ("w0", "w1"):
            with pytest.raises(OSError):
                testbed.connect(worker, testbed.address("c"), port, timeout=0.5)
    testbed.connect("w0", testbed.address("c"), port, timeout=5).close()
    server.close()


def test_a_process_runs_on_its_host(testbed: Testbed) -> None:
    """`popen` puts a process in the host's namespace: it binds the host's address and is reached there."""
    code = ("import socket,sys; s=socket.create_server((sys.argv[1],7000)); print('up',flush=True); "
            "c,a=s.accept(); c.sendall(a[0].encode())")
    proc = testbed.popen("w1", [sys.executable, "-c", code, testbed.address("w1")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    with testbed.connect("w0", testbed.address("w1"), 7000) as client:
        assert client.recv(100).decode() == testbed.address("w0")
    assert proc.wait(10) == 0


def test_teardown_after_a_failing_body_leaves_nothing() -> None:
    links = _root_links()
    routes = ip("route", "show")
    with pytest.raises(RuntimeError), Testbed(["c", "w0"]) as testbed:
        names = [h.netns for h in testbed.hosts.values()] + [testbed.bridge_ns]
        sleeper = testbed.popen("w0", ["sleep", "600"])
        assert set(names) <= set(namespaces())
        raise RuntimeError("the test failed")
    assert sleeper.poll() is not None  # a process started on a host is ended with it
    assert not set(names) & set(namespaces())
    assert testbed.leftovers() == []
    assert _root_links() == links and ip("route", "show") == routes  # nothing ever touched the root namespace


def test_two_testbeds_at_once_share_nothing(make_testbed: MakeTestbed) -> None:
    first, second = make_testbed(["c", "w0"]), make_testbed(["c", "w0"])
    assert first.subnet != second.subnet
    assert not {h.netns for h in first.hosts.values()} & {h.netns for h in second.hosts.values()}
    with pytest.raises(RouteRefused):
        first.connect("c", second.address("w0"), 80, timeout=0.5)


def test_a_dead_owners_testbed_is_swept(make_testbed: MakeTestbed) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{PREFIX}250.{dead.pid}.br"
    ip("netns", "add", stale)
    try:
        make_testbed(["a"])
        assert stale not in namespaces()
    finally:
        ip("netns", "delete", stale, check=False)


@pytest.mark.parametrize("hosts", [[], ["a", "a"], ["br"], ["Worker"], ["a" * 11]])
def test_bad_host_names_are_refused_before_anything_is_built(hosts: list[str]) -> None:
    before = namespaces()
    with pytest.raises(TestbedError):
        Testbed(hosts)
    assert namespaces() == before
