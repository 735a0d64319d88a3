"""Fixtures for the multi-host tests: testbeds of network namespaces, always torn down.

Where this machine cannot build network namespaces (not root, no iproute2) only `test_available.py` is
collected, and its one test is skipped with the reason: the folder says so in one skip line. As root with
iproute2 present, a testbed that fails to build is a test error, not a skip: CI runs as root and must run
these tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from databright.testbed import Shaping, Testbed, unavailable_reason

UNAVAILABLE = unavailable_reason()
collect_ignore = [] if UNAVAILABLE is None else [
    path.name for path in Path(__file__).parent.glob("test_*.py") if path.name != "test_available.py"
]

MakeTestbed = Callable[..., Testbed]


@pytest.fixture
def make_testbed() -> Iterator[MakeTestbed]:
    """Builds testbeds on demand; at teardown (after a failure too) closes them and checks nothing is left."""
    made: list[Testbed] = []

    def make(hosts: Sequence[str] = ("c", "w0", "w1"), shaping: Shaping | None = None) -> Testbed:
        testbed = Testbed(hosts, shaping)
        made.append(testbed)
        return testbed.start()

    yield make
    for testbed in made:
        testbed.close()
    left = [name for testbed in made for name in testbed.leftovers()]
    assert not left, f"namespaces left after teardown: {left}"


@pytest.fixture
def testbed(make_testbed: MakeTestbed) -> Testbed:
    """A coordinator host `c` and two worker hosts `w0`, `w1` on 1 Gbit/s links."""
    return make_testbed()

