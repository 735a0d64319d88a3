"""Several hosts on one machine: Linux network namespaces joined through a bridge, every link shaped by `tc`.

Used by the multi-host tests (`tests/netns/`) and by the benches (`bench/netlink.py`), which is why it is
in the package rather than under `tests/`: both import it. It imports nothing else of DataBright but the
error root, so it stays a leaf that no product code depends on.
"""

from databright.testbed.errors import RouteRefused, TestbedError
from databright.testbed.netns import Host, Shaping, Testbed, unavailable_reason

__all__ = ["Host", "RouteRefused", "Shaping", "Testbed", "TestbedError", "unavailable_reason"]
