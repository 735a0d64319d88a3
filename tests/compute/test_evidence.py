"""Slash evidence of split stages and data-parallel members, checked as a third party would
(`evidence.verify`): real cheats on worker processes over the real gateway produce evidence that holds,
and every kind of tampering with it — a changed body, a swapped signature, a wrong input, a message left
out, an honest worker named instead of the cheat — is refused with the check that fails."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from databright.cid import cid_for_bytes
from databright.compute.checkpoint import CheckpointStore
from databright.compute.data import TrainingData
from databright.compute.evidence import Verdict, store_attachments, summary, verify
from databright.compute.gateway import CoordinatorIdentity, Gateway, admit_all
from databright.compute.handle import WorkerHandle
from databright.compute.runner import JobRunner
from databright.demo.pool import HostedPool, address_of, dev_keys
from databright.training.replica import Replica
from databright.training.spec import JobSpec

from .conftest import job_spec
from .test_on_workers import Supply

BASE = {"training": {"epochs": 1, "batch_size": 64, "seed": 3}, "unit_steps": 4}


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with tempfile.TemporaryDirectory(prefix="databright-gateway-") as folder:
        g = Gateway(Path(folder), CoordinatorIdentity("0x" + "10" * 20, 1, "0x" + "20" * 20), admit_all)
        g.start()
        pools: list[HostedPool] = []
        g.pools = pools  # type: ignore[attr-defined]
        yield g
        for pool in pools:
            pool.stop()
        g.stop()


def spawn(gateway: Gateway, names: list[str], fault: str | None = None) -> list[WorkerHandle]:
    keys = dev_keys(names)
    pool = HostedPool(gateway, keys, 1, {address_of(k): fault for k in keys} if fault else None)
    gateway.pools.append(pool)  # type: ignore[attr-defined]
    return pool.handles


@pytest.fixture(scope="module")
def honest(gateway: Gateway) -> list[WorkerHandle]:
    return spawn(gateway, [f"evidence-{i}" for i in range(20)])


@dataclass
class Case:
    spec: JobSpec
    evidence: dict[str, Any]   # as stored: attachments replaced by their CIDs
    blobs: dict[str, bytes]    # the store, content-addressed
    cheat: str
    groups: list[list[str]]

    def fetch(self, cid: str) -> bytes:
        return self.blobs[cid]

    def upload(self, data: bytes) -> str:
        cid = cid_for_bytes(data)
        self.blobs[cid] = data
        return cid

    def check(self, evidence: dict[str, Any], data: TrainingData) -> Verdict:
        return verify(json.loads(json.dumps(evidence)), self.spec.to_bytes(), data, self.fetch)

    def entry(self, address: str) -> dict[str, Any]:
        return next(t for t in self.evidence["transcripts"] if t["address"] == address)


def run_case(name: str, spec: JobSpec, handles: list[WorkerHandle], cheat: WorkerHandle, data: TrainingData,
             folder: Path) -> Case:
    supply = Supply(handles)
    progress, _ = JobRunner(name, spec, data, supply, CheckpointStore(folder)).run()
    [(slashed, evidence)] = supply.slashed
    assert slashed == cheat.address and progress.agreements == progress.units_done
    case = Case(spec, evidence, {}, cheat.address, evidence["groups"])
    store_attachments(evidence, case.upload)
    assert summary(evidence)["transcripts"]  # the job's progress keeps whose transcripts, not their bytes
    return case


@pytest.fixture(scope="module")
def split_case(gateway: Gateway, honest: list[WorkerHandle], digits_data: TrainingData,
               tmp_path_factory: pytest.TempPathFactory) -> Case:
    """A 2-stage split under TMR with 2 micro-batches; the cheat is group 0's first stage (roles in order:
    g0.w0, g0.stage1, g1.w0, ...): it corrupts its weights after its first step."""
    [cheat] = spawn(gateway, ["evidence-stage-cheat"], "corrupt:1.0")
    spec = job_spec(**BASE, protections={"split_stages": 2, "micro_batches": 2, "redundancy": 3})
    return run_case("ev-split", spec, [cheat, *honest[:7]], cheat, digits_data, tmp_path_factory.mktemp("split"))


@pytest.fixture(scope="module")
def parallel_case(gateway: Gateway, honest: list[WorkerHandle], digits_data: TrainingData,
                  tmp_path_factory: pytest.TempPathFactory) -> Case:
    """Data-parallel groups of two shard owners (a 25 % cap) under TMR; the cheat, group 1's second member,
    perturbs its gradient share at every step. Two periods of two shards: 2 x 6 owners and a replacement."""
    [cheat] = spawn(gateway, ["evidence-share-cheat"], "corrupt-share:1.0")
    spec = job_spec(**BASE, workers=2, protections={"data_cap": 0.25, "redundancy": 3})
    handles = [*honest[7:10], cheat, *honest[10:20]]
    return run_case("ev-dp", spec, handles, cheat, digits_data, tmp_path_factory.mktemp("dp"))


def failed(verdict: Verdict) -> list[str]:
    return [what for what, ok in verdict.checks if not ok]


def test_a_cheating_split_stage_leaves_evidence_a_third_party_verifies(split_case: Case,
                                                                       digits_data: TrainingData) -> None:
    c = split_case
    assert c.evidence["position"] == "step 0 state 0" and c.evidence["worker"] == c.cheat
    # the whole deviating group (the cheat and the stage it fed) and the cheat's role in the two others
    assert [t["address"] for t in c.evidence["transcripts"]] == [*c.groups[0], c.groups[1][0], c.groups[2][0]]
    v = c.check(c.evidence, digits_data)
    assert v.ok, failed(v)
    lines = [what for what, _ in v.checks]
    assert f"{c.cheat[:10]} (g0.w0) was sent exactly the re-run's requests up to step 0 state 0, and its signed " \
           "reply there differs from the re-run" in lines
    assert "the workers in its role in both other groups signed exactly the re-run's replies for the whole unit " \
           "(2 of 2)" in lines
    # every message of the unit is signed: setup, 2 micro-batches forward and back and a step per batch, snapshot
    assert len(c.entry(c.cheat)["signed"]) == 1 + 4 * 5 + 1


def test_a_cheating_data_parallel_member_leaves_evidence_a_third_party_verifies(parallel_case: Case,
                                                                                digits_data: TrainingData) -> None:
    c = parallel_case
    assert c.evidence["position"] == "step 0 share 1" and c.evidence["worker"] == c.cheat
    v = c.check(c.evidence, digits_data)
    assert v.ok, failed(v)
    assert any(what.startswith(f"{c.cheat[:10]} (g1.shard") and "up to step 0 share 1" in what for what, _ in v.checks)


def _resign_free_tamper(c: Case, how: str) -> dict[str, Any]:
    """A copy of the evidence changed in one way that needs no private key."""
    e = copy.deepcopy(c.evidence)
    mine = next(t for t in e["transcripts"] if t["address"] == c.cheat)
    g = next(i for i, members in enumerate(c.groups) if c.cheat in members)
    index = c.groups[g].index(c.cheat)
    if how == "body":  # one byte of the cheat's stored replies
        blob = bytearray(c.fetch(mine["bodies_cid"]))
        blob[-1] ^= 1
        mine["bodies_cid"] = c.upload(bytes(blob))
    elif how == "signature":  # two of its signatures swapped
        a, b = mine["signed"][1], mine["signed"][2]
        a["signature"], b["signature"] = b["signature"], a["signature"]
    elif how == "input":  # another starting state (a differently seeded model) named as the unit's input
        other = Replica(c.spec.model_copy(update={"training": c.spec.training.model_copy(update={"seed": 9})}),
                        (8, 8), 10).snapshot()
        e["input_state_cid"] = c.upload(other)
    elif how == "dropped":  # one of its signed replies (a step) left out of its transcript
        del mine["signed"][5]
    elif how == "framed-fed":  # the member of its group that was fed its output, named in its place
        e["worker"] = c.groups[g][1 - index]
    elif how == "framed-honest":  # an agreeing group's worker in the same role, named in its place
        e["worker"] = c.groups[(g + 1) % 3][index]
    return e


REFUSALS = {
    "body": "the stored replies are the ones it signed",
    "signature": "signatures are",
    "input": "the input state is the agreed state the evidence names",
    "dropped": "the re-run sends a stage_step",
    "framed-fed": "its first difference is in what it was sent, not in what it returned",
    "framed-honest": "signed exactly the re-run's replies: nothing to blame it for",
}


@pytest.mark.parametrize("how", sorted(REFUSALS))
def test_tampered_split_evidence_is_refused_with_the_check_that_fails(split_case: Case, digits_data: TrainingData,
                                                                      how: str) -> None:
    v = split_case.check(_resign_free_tamper(split_case, how), digits_data)
    assert not v.ok
    assert any(REFUSALS[how] in what for what in failed(v)), failed(v)


def test_tampered_parallel_evidence_is_refused(parallel_case: Case, digits_data: TrainingData) -> None:
    c = parallel_case
    for how in ("body", "signature", "framed-fed", "framed-honest"):
        v = c.check(_resign_free_tamper(c, how), digits_data)
        assert not v.ok and any(REFUSALS[how] in what for what in failed(v)), (how, failed(v))


def test_evidence_checked_against_other_data_is_refused(split_case: Case, digits_data: TrainingData) -> None:
    """The unit's samples are part of what every worker signed for: one changed sample breaks the requests."""
    x = digits_data.x_train.copy()
    first = int(np.concatenate([b for b in _unit0(split_case.spec, digits_data)])[0])
    x[first] += 1.0
    v = split_case.check(split_case.evidence, TrainingData(**{**digits_data.__dict__, "x_train": x}))
    assert not v.ok and any("was sent other inputs than the re-run" in w for w in failed(v)), failed(v)


def _unit0(spec: JobSpec, data: TrainingData) -> tuple[Any, ...]:
    from databright.compute.schedule import schedule

    return schedule(spec, data.n_train)[0].batches


def test_malformed_evidence_is_a_failed_check_not_a_crash(split_case: Case, digits_data: TrainingData) -> None:
    e = copy.deepcopy(split_case.evidence)
    del e["transcripts"][0]["signed"][0]["at"]
    v = split_case.check(e, digits_data)
    assert not v.ok and any("complete and well formed" in w for w in failed(v))
