"""Slash evidence for split stages and data-parallel members: signed transcripts, re-run message by message.

A stage of a split model or a member of a data-parallel group does a unit in many messages (activations,
gradients, gradient shares, states), each a request the coordinator built and a reply the worker signed
(`protocol.signing.ResultStatement`: job, unit, role, kind, request digest, reply digest). When TMR finds
such a group deviating, the evidence holds the *transcript* of the unit — every signed reply, with its
body — of each member of the deviating group and of the members in the deviator's role in the two
agreeing groups, beside the agreed state the unit started from.

A verifier re-runs the group honestly from that state and the job's data (`evidence_replay`), so it
rebuilds every request itself: a transcript's request digests must be exactly the re-run's, in order —
nothing left out, added or reordered —, so the worker is shown to have been sent the unit's real inputs.
The named worker must have signed a reply that differs from the re-run's while every request it had
signed up to there was the re-run's (a worker fed a deviator's output is not to blame: its first
difference is in what it was sent); the workers in its role in the other groups must have signed the
re-run's replies for the whole unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from databright.compute.data import TrainingData
from databright.compute.evidence_replay import WORK, Expected, Script, fingerprint, parallel_script, split_script
from databright.compute.handle import Receipt
from databright.compute.schedule import Unit, group_roles
from databright.protocol.signing import ResultStatement, digest, signed_by
from databright.training.spec import JobSpec


class Check(Protocol):
    def check(self, what: str, ok: bool) -> bool: ...


def transcript(address: str, receipts: list[Receipt], job: str, unit: Unit) -> dict[str, Any]:
    """One member's signed replies of `unit` (its work only; pings and counters left out), bodies attached."""
    ours = [r for r in receipts
            if (r.statement.job, r.statement.unit) == (job, unit.start) and r.statement.kind in WORK]
    return {"address": address, "signed": [{"statement": asdict(r.statement), "signature": r.signature.hex(),
                                            "body": r.body} for r in ours]}


def group_evidence(job: str, groups: list[list[Any]], transcripts: list[dict[str, list[Receipt]]], odd: int,
                   agreed: list[int], deviator: str, unit: Unit) -> list[dict[str, Any]]:
    """The transcripts a third party needs: every member of the odd group, and the deviator's role in the
    agreeing groups (`groups`: the members' handles per group; `transcripts`: per group, by address)."""
    index = [h.address for h in groups[odd]].index(deviator)
    chosen = [h.address for h in groups[odd]]
    out = [transcript(a, transcripts[odd].get(a, []), job, unit) for a in chosen]
    for g in agreed:
        address = groups[g][index].address
        out.append(transcript(address, transcripts[g].get(address, []), job, unit))
    return out


@dataclass
class Reading:
    role: str
    status: str      # honest | deviated | misled | mismatched (a transcript of another shape than the unit's)
    label: str = ""  # where it first differs from the re-run
    detail: str = ""


def _read(entries: list[tuple[ResultStatement, bytes]], setup: Expected, script: list[Expected], role: str) -> Reading:
    if entries and entries[0][0].kind == setup.kind:  # sent only when it did not already hold the agreed state
        (first, body), entries = entries[0], entries[1:]
        if first.request != setup.request:
            return Reading(role, "misled", "setup", "was set up from another state than the agreed one")
        if fingerprint(first.kind, body) != setup.value:
            return Reading(role, "deviated", "setup", "answered its setup with another state hash")
    for n, ((st, body), want) in enumerate(zip(entries, script, strict=False)):
        if st.kind != want.kind:
            return Reading(role, "mismatched", want.label, f"message {n + 1} is a {st.kind}, the re-run sends a "
                                                           f"{want.kind}")
        if st.request != want.request:
            return Reading(role, "misled", want.label, f"was sent other inputs than the re-run at {want.label}")
        if fingerprint(st.kind, body) != want.value:
            return Reading(role, "deviated", want.label, f"its signed reply at {want.label} differs from the re-run")
    if len(entries) != len(script):
        return Reading(role, "mismatched", "", f"{len(entries)} signed replies, the unit has {len(script)} messages")
    return Reading(role, "honest")


def verify_groups(v: Check, evidence: dict[str, Any], spec: JobSpec, data: TrainingData, unit: Unit, state: bytes,
                  fetch: Any) -> None:
    """Adds the checks of a split or data-parallel group's evidence to `v` (see the module's docstring)."""
    job = str(evidence["job"])
    script: Script = (split_script if spec.protections.split_stages > 1 else parallel_script)(spec, data, unit, state)
    v.check("the re-run gives the agreed result", script.final == evidence.get("agreed_final"))
    where = {role: (g, k) for g in range(3) for k, role in enumerate(group_roles(spec, g, unit))}
    readings: dict[str, Reading] = {}
    for t in evidence.get("transcripts", []):
        address, signed = t["address"], t["signed"]
        who = address[:10]
        blob = fetch(t["bodies_cid"]) if signed else b""
        entries: list[tuple[ResultStatement, bytes]] = []
        sigs = roles = bodies = True
        for e in signed:
            st = ResultStatement(**e["statement"])
            offset, length = e["at"]
            body = blob[offset:offset + length] if 0 <= offset <= offset + length <= len(blob) else b"\0"
            sigs &= signed_by(st.text(), bytes.fromhex(e["signature"]), address)
            roles &= (st.job, st.unit, st.role) == (job, unit.start, signed[0]["statement"]["role"])
            bodies &= digest(body) == st.reply
            entries.append((st, body))
        role = signed[0]["statement"]["role"] if signed else ""
        v.check(f"{who}: its {len(signed)} signatures are {address}'s over its statements", bool(signed) and sigs)
        v.check(f"{who}: every statement is about job {job}, unit {unit.start}, as {role or 'no role'} of the unit",
                roles and role in where)
        v.check(f"{who}: the stored replies are the ones it signed (reply digests)", bodies)
        if role in where and roles:
            k = where[role][1]
            readings[address] = _read(entries, script.setups[k], script.members[k], role)
    _blame(v, evidence, readings, where)


def _blame(v: Check, evidence: dict[str, Any], readings: dict[str, Reading], where: dict[str, tuple[int, int]]) -> None:
    deviator = evidence.get("worker", "")
    mine = readings.get(deviator)
    if mine is None:
        v.check(f"the slashed worker {deviator[:10]}'s signed transcript is in the evidence", False)
        return
    who = f"{deviator[:10]} ({mine.role})"
    blame = {"deviated": f"{who} was sent exactly the re-run's requests up to {mine.label}, and its signed reply "
                         "there differs from the re-run",
             "honest": f"{who} signed exactly the re-run's replies: nothing to blame it for",
             "misled": f"{who} {mine.detail}: its first difference is in what it was sent, not in what it returned"}
    v.check(blame.get(mine.status, f"{who}: {mine.detail}"), mine.status == "deviated")
    v.check(f"the first difference is where the coordinator placed it ({evidence.get('position')})",
            mine.label == evidence.get("position"))
    g, k = where[mine.role]
    peers = [r for a, r in readings.items() if a != deviator and where[r.role][1] == k and where[r.role][0] != g
             and r.status == "honest"]
    v.check(f"the workers in its role in both other groups signed exactly the re-run's replies for the whole unit "
            f"({len(peers)} of 2)", len(peers) >= 2)
