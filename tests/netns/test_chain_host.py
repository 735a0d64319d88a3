"""The market's services on their own host: workers on other hosts reach the chain only over the testbed."""

from __future__ import annotations

import subprocess

import pytest

from .world import CLI, HostProcess, World


def test_a_worker_host_registers_over_the_link_and_a_cut_host_cannot(world: World) -> None:
    a = world.chain.accounts()
    done = world.testbed.run("w0", [*CLI, *world.urls("w0"), "-a", "12", "worker", "register", "--stake", "1"],
                             env=world.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert a[12] in {w.address for w in world.market.compute.workers()}
    world.testbed.cut("w1")
    cut_off = HostProcess(world, "w1", "-a", "13", "worker", "register", "--stake", "1")
    with pytest.raises(subprocess.TimeoutExpired):
        cut_off.proc.wait(timeout=3)  # no packet crosses a cut link: the request hangs, it is not answered
    assert a[13] not in {w.address for w in world.market.compute.workers()}

