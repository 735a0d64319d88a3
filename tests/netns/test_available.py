"""The one test that stands for the whole folder when this machine cannot build network namespaces."""

from __future__ import annotations

import pytest

from databright.testbed import Testbed

from .conftest import UNAVAILABLE


def test_network_namespaces_are_available() -> None:
    if UNAVAILABLE is not None:
        pytest.skip(f"multi-host tests (tests/netns) not run: {UNAVAILABLE}")
    with Testbed(["solo"]) as testbed:
        assert testbed.run("solo", ["ip", "-o", "link", "show", "eth0"]).returncode == 0
    assert testbed.leftovers() == []
