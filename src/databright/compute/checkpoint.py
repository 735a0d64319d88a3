"""The coordinator's memory of a job, on disk, so that a killed coordinator resumes where it was.

After every unit the agreed state is written to `state-<hash>.bin`, then `progress.json` (which names
that hash) replaces the previous one by an atomic rename, then older states are removed. A crash at
any point leaves a progress file whose state file exists: at worst the last unit is done again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from databright.compute.errors import ComputeError


@dataclass
class WorkerStats:
    units: int = 0          # verified work units (one unit = one sample's forward and backward pass)
    samples: int = 0        # sample presentations in verified units
    steps: int = 0
    seconds: float = 0.0
    distinct: list[int] = field(default_factory=list)  # sorted distinct training-sample indices ever sent to it


@dataclass
class Progress:
    """Where a job stands. `position` counts optimiser steps done over the whole schedule."""

    job: str
    position: int = 0
    state_hash: str = ""
    units_done: int = 0
    workers: dict[str, WorkerStats] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # role (e.g. "g0.shard3") -> the worker holding it
    curve: list[dict[str, float]] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    deviations: list[dict[str, Any]] = field(default_factory=list)  # caught by comparison: who, evidence
    agreements: int = 0     # units whose redundant results all agreed
    checks: int = 0         # units recomputed by a spot check (and found equal)
    parameters: dict[str, int] = field(default_factory=dict)  # split jobs: parameters each stage worker held
    status: str = "running"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Progress:
        raw = json.loads(text)
        raw["workers"] = {k: WorkerStats(**v) for k, v in raw.get("workers", {}).items()}
        return cls(**raw)


class CheckpointStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def secret(self) -> bytes:
        """32 random bytes kept with the job's checkpoints (0600), created on first use: what the spot-check
        draws are keyed with, so a worker — which knows the job, the unit and the spec's seed — cannot
        predict which units are checked, while a restarted coordinator draws the same."""
        path = self.folder / "secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(32))
        return path.read_bytes()

    @property
    def _progress_path(self) -> Path:
        return self.folder / "progress.json"

    def load(self) -> tuple[Progress, bytes] | None:
        """The last saved progress and its state, or None for a job never checkpointed."""
        if not self._progress_path.exists():
            return None
        try:
            progress = Progress.from_json(self._progress_path.read_text())
            state = (self.folder / f"state-{progress.state_hash}.bin").read_bytes()
        except (OSError, ValueError, TypeError) as exc:
            raise ComputeError(f"the checkpoint in {self.folder} is unreadable: {exc}") from exc
        return progress, state

    def save(self, progress: Progress, state: bytes) -> None:
        state_path = self.folder / f"state-{progress.state_hash}.bin"
        if not state_path.exists():
            _atomic_write(state_path, state)
        _atomic_write(self._progress_path, progress.to_json().encode())
        for old in self.folder.glob("state-*.bin"):
            if old != state_path:
                old.unlink(missing_ok=True)

    def mark(self, progress: Progress, status: str) -> None:
        progress.status = status
        _atomic_write(self._progress_path, progress.to_json().encode())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
