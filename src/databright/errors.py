"""The exception tree: one root, one family per subsystem.

Callers (the CLI above all) catch `DataBrightError` and show its message; anything else
escaping is a bug. Contract reverts carry the contract's own reason string, which always
has the form ``"contract: reason"``, and become the subclass named by that prefix so that
code can tell a token refusal from an association refusal without parsing text.
"""

from __future__ import annotations


class DataBrightError(Exception):
    """Root of every error DataBright raises on purpose."""

    exit_code = 1


class ConfigError(DataBrightError):
    """Bad settings: an unknown account, a missing deployment, a malformed address."""

    exit_code = 2


class CidError(DataBrightError):
    """A content identifier that is not a CIDv1 raw sha2-256."""

    exit_code = 2


class ChainError(DataBrightError):
    """The chain could not be reached or did not behave."""

    exit_code = 3


class NodeError(ChainError):
    """The local anvil node could not be started, found or stopped."""


class ContractRevert(ChainError):
    """A contract refused a call; `reason` is its revert string."""

    exit_code = 4
    contract = ""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenRevert(ContractRevert):
    contract = "token"


class DatabaseRevert(ContractRevert):
    contract = "database"


class AssociationRevert(ContractRevert):
    contract = "association"


class ComputeRevert(ContractRevert):
    contract = "compute"


_REVERTS: dict[str, type[ContractRevert]] = {
    cls.contract: cls for cls in (TokenRevert, DatabaseRevert, AssociationRevert, ComputeRevert)
}


def revert_from_reason(reason: str) -> ContractRevert:
    """Builds the typed exception for a revert reason such as ``"association: voting closed"``."""
    prefix = reason.split(":", 1)[0].strip()
    return _REVERTS.get(prefix, ContractRevert)(reason)
