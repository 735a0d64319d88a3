"""The testbed's errors: a set-up that cannot be made, and a connection that must not be made."""

from __future__ import annotations

from databright.errors import DataBrightError


class TestbedError(DataBrightError):
    """The network testbed could not be built, changed or torn down (`ip`/`tc` refused)."""

    __test__ = False  # not a pytest test class, whatever its name says
    exit_code = 5


class RouteRefused(TestbedError):
    """An address is outside the testbed, or the kernel would route it elsewhere than the testbed's link.

    Raised before any packet is sent: a testbed that was not built as intended must never reach an
    address off this machine.
    """
