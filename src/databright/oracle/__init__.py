"""The oracle: a service that votes with the power curators delegate to it, by data value."""

from databright.oracle.assess import Assessment, FairSharePolicy, assess
from databright.oracle.service import Oracle

__all__ = ["Assessment", "FairSharePolicy", "Oracle", "assess"]
