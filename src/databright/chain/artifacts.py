"""Compiled contracts, cached on disk and rebuilt when a source changes.

Compiling the three contracts takes seconds; every CLI call needs their ABI. The cache key
is a hash of all contract sources and the compiler version, so editing any `.vy` file (or
upgrading vyper) recompiles everything once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import vyper
from vyper.compiler.input_bundle import FilesystemInputBundle

from databright.config import home

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
CONTRACT_NAMES = ("CuratorToken", "Database", "DataAssociation", "ComputeMarket")


@dataclass(frozen=True)
class Artifact:
    """What a client needs of one contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    blueprint_bytecode: str


def _sources_hash() -> str:
    h = hashlib.sha256(vyper.__version__.encode())
    h.update(",".join(CONTRACT_NAMES).encode())  # a cache without a newly listed contract is stale
    for path in sorted(CONTRACTS_DIR.glob("*.vy")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _compile(name: str) -> Artifact:
    path = CONTRACTS_DIR / f"{name}.vy"
    out = vyper.compile_code(
        path.read_text(),
        contract_path=path.name,
        input_bundle=FilesystemInputBundle([CONTRACTS_DIR]),
        output_formats=["abi", "bytecode", "blueprint_bytecode"],
    )
    return Artifact(name, out["abi"], out["bytecode"], out["blueprint_bytecode"])


@cache
def load_artifacts() -> dict[str, Artifact]:
    """All contracts, from the cache when the sources are unchanged."""
    cache_file = home() / "artifacts" / f"{_sources_hash()}.json"
    if cache_file.exists():
        raw = json.loads(cache_file.read_text())
        return {name: Artifact(**raw[name]) for name in CONTRACT_NAMES}
    artifacts = {name: _compile(name) for name in CONTRACT_NAMES}
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({n: a.__dict__ for n, a in artifacts.items()}))
    tmp.replace(cache_file)
    return artifacts
