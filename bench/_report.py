"""How every bench script ends: the JSON kept under bench/results/, then a table or the JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def emit(report: dict[str, Any], path: Path, as_json: bool, print_table: Callable[[], None]) -> None:
    """Writes `report` to `path`, then prints it as one JSON object (`--json`) or as the table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    if as_json:
        print(json.dumps(report))
    else:
        print_table()
