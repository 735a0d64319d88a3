"""Ray for the compute market: starting or joining a cluster, and finding the workers on it.

Workers are named actors (`worker-<address>`) in the `databright` namespace, so a coordinator in
another process finds them by listing names, and a worker started on another machine with
`databright worker start --ray ADDRESS` joins by name. On one machine with no address given a local
Ray instance is started (2 CPUs, no dashboard, no usage reporting: it starts in about 5 s).
Worker actors ask Ray for no CPU of their own: they are idle most of the time, and a job runs one
thread per worker, so reserving whole cores would only stop a small machine from hosting them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from databright.compute.errors import ComputeError
from databright.compute.worker import TrainingWorker, WorkerHost
from databright.config import home

log = logging.getLogger("databright.compute")
NAMESPACE = "databright"
PREFIX = "worker-"
HOST_PREFIX = "host-"


def ensure_ray(address: str | None = None, num_cpus: int = 2) -> None:
    """Connects to the cluster at `address`, or starts a local one, once per process."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        # Ray 2.60 starts local clusters with token authentication (~/.ray/auth_token) but does not yet send
        # the token when a driver joins by address; ask for it (before Ray is imported: it reads the setting
        # once), unless the user chose a mode
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    else:
        # the same default, announced with a warning on every start: it is the behaviour we want, so say nothing
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    import ray

    if ray.is_initialized():
        return
    try:
        if address:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
                     logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ComputeError(f"could not {'join the Ray cluster at ' + address if address else 'start Ray'}: {exc}") \
            from exc


def cluster_address() -> str:
    import ray

    return str(ray.get_runtime_context().gcs_address)


def _record() -> Path:
    return home() / "ray.json"


def record_cluster(address: str) -> None:
    """Remembers the local cluster a `worker start` opened, for the next worker and the coordinator."""
    _record().parent.mkdir(parents=True, exist_ok=True)
    _record().write_text(json.dumps({"address": address, "pid": os.getpid()}))


def recorded_cluster() -> str | None:
    """The cluster recorded by a `worker start` that is still running, if any."""
    try:
        raw = json.loads(_record().read_text())
        os.kill(int(raw["pid"]), 0)
        return str(raw["address"])
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class WorkerHandle:
    """A worker actor and the Ethereum account it is paid to."""

    address: str
    actor: Any

    def __hash__(self) -> int:
        return hash(self.address)


def spawn_worker(address: str, fault: str | None = None, detached: bool = False,
                 namespace: str = NAMESPACE) -> WorkerHandle:
    """Starts a worker actor for `address` and waits until it answers."""
    return spawn_workers([address], {address: fault} if fault else None, detached, namespace)[0]


def spawn_workers(addresses: list[str], faults: dict[str, str] | None = None,
                  detached: bool = False, namespace: str = NAMESPACE) -> list[WorkerHandle]:
    """Starts one worker actor per address at once (each imports PyTorch, a few seconds, so they
    start side by side) and waits until every one answers. A private `namespace` keeps a demo's or
    a test's workers apart from the market's own in the same Ray instance."""
    import ray

    ensure_ray()
    remote = ray.remote(TrainingWorker)
    handles = []
    for address in addresses:
        options: dict[str, Any] = {"name": PREFIX + address, "namespace": namespace, "num_cpus": 0,
                                   "max_restarts": 0, "max_concurrency": 1}
        if detached:
            options["lifetime"] = "detached"
        fault = (faults or {}).get(address)
        handles.append(WorkerHandle(address, remote.options(**options).remote(address, fault)))
    try:
        ray.get([h.actor.ping.remote() for h in handles], timeout=180)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
        raise ComputeError(f"worker actors did not start: {exc}") from exc
    return handles


class _HostedMethod:
    def __init__(self, host: Any, address: str, name: str) -> None:
        self.host, self.address, self.name = host, address, name

    def remote(self, *args: Any) -> Any:
        return self.host.call.remote(self.address, self.name, *args)


class HostedActor:
    """Looks like a worker actor (`handle.actor.run_unit.remote(...)`) but calls one identity of a
    `WorkerHost`, so the runner cannot tell (and need not care) how identities map to processes."""

    def __init__(self, host: Any, address: str) -> None:
        self.host, self.address = host, address

    def __getattr__(self, name: str) -> _HostedMethod:
        if name.startswith("_"):
            raise AttributeError(name)
        return _HostedMethod(self.host, self.address, name)


def spawn_hosted(addresses: list[str], hosts: int = 2, faults: dict[str, str] | None = None,
                 namespace: str = NAMESPACE, name: str = "sim") -> list[WorkerHandle]:
    """Starts `hosts` processes holding the given worker identities between them (round robin), for
    simulating a large pool on one machine; returns one handle per identity."""
    import ray

    ensure_ray()
    remote: Any = ray.remote(WorkerHost)
    count = max(1, min(hosts, len(addresses)))
    shares = [addresses[i::count] for i in range(count)]
    actors: list[Any] = [
        remote.options(name=f"{HOST_PREFIX}{name}-{i}", namespace=namespace, num_cpus=0, max_restarts=0,
                       max_concurrency=1).remote([(a, (faults or {}).get(a)) for a in share])
        for i, share in enumerate(shares)]
    try:
        ray.get([a.identities.remote() for a in actors], timeout=180)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
        raise ComputeError(f"worker hosts did not start: {exc}") from exc
    by_address = {a: actor for actor, share in zip(actors, shares, strict=True) for a in share}
    return [WorkerHandle(a, HostedActor(by_address[a], a)) for a in addresses]


def stop_workers(handles: list[WorkerHandle]) -> None:
    """Stops the processes behind `handles`: their own actors, and the hosts of hosted identities."""
    import ray

    seen: set[int] = set()
    for h in handles:
        actor = h.actor.host if isinstance(h.actor, HostedActor) else h.actor
        if id(actor) in seen:
            continue
        seen.add(id(actor))
        try:
            ray.kill(actor, no_restart=True)
        except Exception as exc:
            log.debug("stopping worker %s: %s", h.address, exc)


def discover_workers() -> list[WorkerHandle]:
    """Every live worker actor on the cluster, by name."""
    import ray

    ensure_ray()
    found = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry["name"] if isinstance(entry, dict) else str(entry)
        namespace = entry.get("namespace", NAMESPACE) if isinstance(entry, dict) else NAMESPACE
        if namespace != NAMESPACE:
            continue
        try:
            if name.startswith(PREFIX):
                found.append(WorkerHandle(name[len(PREFIX):], ray.get_actor(name, namespace=NAMESPACE)))
            elif name.startswith(HOST_PREFIX):
                host = ray.get_actor(name, namespace=NAMESPACE)
                hosted: list[str] = ray.get(host.identities.remote(), timeout=30)
                found += [WorkerHandle(a, HostedActor(host, a)) for a in hosted]
        except (ValueError, ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            continue  # died between listing and lookup
    return found


def kill_worker(handle: WorkerHandle) -> None:
    """Stops a replaced worker: its process, or its identity alone when it shares a host."""
    import ray

    try:
        if isinstance(handle.actor, HostedActor):
            handle.actor.host.drop.remote(handle.address)
            return
        ray.kill(handle.actor, no_restart=True)
    except Exception as exc:
        log.debug("killing worker %s: %s", handle.address, exc)


def is_alive(handle: WorkerHandle, timeout: float = 5.0) -> bool:
    import ray

    try:
        ray.get(handle.actor.ping.remote(), timeout=timeout)
        return True
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False
