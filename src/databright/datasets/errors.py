"""The datasets family of errors: each says which file, row and column, and what was expected."""

from __future__ import annotations

from databright.errors import DataBrightError


class DatasetError(DataBrightError):
    """A contribution that does not meet its request's spec; nothing is stored or proposed."""

    exit_code = 2

    def __init__(self, file: str, problem: str, *, row: int | None = None, column: str | None = None,
                 expected: str | None = None, found: str | None = None) -> None:
        self.file, self.problem, self.row, self.column = file, problem, row, column
        self.expected, self.found = expected, found
        where = "".join([f", row {row}" if row is not None else "", f", column {column}" if column else ""])
        detail = ""
        if expected is not None or found is not None:
            detail = f" (expected {expected}, found {found})"
        super().__init__(f"{file}{where}: {problem}{detail}")
