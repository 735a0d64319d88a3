"""What only the local-filesystem store can show: the files themselves, processes, memory."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from databright.cid import cid_for_bytes
from databright.config import home
from databright.store import BlobStore, BlobTooLarge, IntegrityError, LocalBackend, StoreError
from databright.store.lib.crypto import HEADER_BYTES, TAG_BYTES
from databright.store.lib.keys import KEY_FILE

MIB = 1 << 20
CHILD = Path(__file__).with_name("_child.py")


def blob_files(store: BlobStore) -> list[str]:
    return sorted(p.name for p in (store.root / "blobs").iterdir() if not p.name.startswith("."))


def temp_files(store: BlobStore) -> list[str]:
    return sorted(p.name for p in (store.root / "blobs").iterdir() if p.name.startswith("."))


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, text=True)


# -- the master key ----------------------------------------------------------------------------


def test_master_key_file_is_private_and_reused(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "s")
    key_file = store.root / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert len(key_file.read_bytes()) == 32
    key = key_file.read_bytes()
    cid = store.put_bytes(b"kept across restarts")
    again = BlobStore(tmp_path / "s")
    assert key_file.read_bytes() == key
    assert again.get_bytes(cid) == b"kept across restarts"
    assert key.hex() not in repr(again) + repr(again._master)


def test_new_master_key_cannot_read_old_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    cid = store.put_bytes(b"secret")
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(StoreError, match="another master key"):
        BlobStore(tmp_path).get_bytes(cid)


def test_readable_key_file_is_refused(tmp_path: Path) -> None:
    BlobStore(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        BlobStore(tmp_path)


def test_damaged_key_file_is_refused(tmp_path: Path) -> None:
    BlobStore(tmp_path)
    (tmp_path / KEY_FILE).write_bytes(b"short")
    with pytest.raises(StoreError, match="holds 5 bytes"):
        BlobStore(tmp_path)


def test_racing_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)

    def start(i: int) -> tuple[BlobStore, str]:
        barrier.wait()
        store = BlobStore(tmp_path / "fresh")
        return store, store.put_bytes(b"blob %d" % i)

    with ThreadPoolExecutor(8) as pool:
        results = [*pool.map(start, range(8))]
    for store, _ in results:
        for i, (_, cid) in enumerate(results):
            assert store.get_bytes(cid) == b"blob %d" % i
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["blobs", KEY_FILE]


def test_default_root_is_in_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRIGHT_HOME", str(tmp_path))
    store = BlobStore()
    assert store.root == home() / "store" == tmp_path / "store"
    assert blob_files(store) == []


# -- what is on disk ---------------------------------------------------------------------------


def test_no_plaintext_on_disk(tmp_path: Path) -> None:
    marker = b"DATABRIGHT-PLAINTEXT-MARKER"
    store = BlobStore(tmp_path / "s")
    store.put_bytes(marker)
    store.put_bytes(marker * 100_000)  # several segments
    store.put_stream(iter([b"x" * (MIB - 5), marker, b"y" * 100]))  # across a segment boundary
    files = [p for p in (tmp_path / "s").rglob("*") if p.is_file()]
    assert len(files) == 4  # three blobs and the key
    for path in files:
        assert marker not in path.read_bytes(), path
        assert marker[:12] not in path.read_bytes(), path


@pytest.mark.parametrize("how", ["flip", "truncate", "swap"])
def test_tampered_file_on_disk(tmp_path: Path, how: str) -> None:
    store = BlobStore(tmp_path / "s")
    data = os.urandom(2 * MIB + 3)
    cid = store.put_bytes(data)
    path = store.root / "blobs" / cid
    raw = bytearray(path.read_bytes())
    sealed = MIB + TAG_BYTES
    if how == "flip":
        raw[-100] ^= 0x80
    elif how == "truncate":
        del raw[-1:]
    else:
        start, middle, end = HEADER_BYTES, HEADER_BYTES + sealed, HEADER_BYTES + 2 * sealed
        raw[start:end] = raw[middle:end] + raw[start:middle]
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        store.get_bytes(cid)
    with pytest.raises(IntegrityError):
        store.read_to(cid, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


# -- crashes and processes ---------------------------------------------------------------------


def test_kill_during_upload_leaves_no_blob(tmp_path: Path) -> None:
    root = tmp_path / "s"
    proc = child("slow", str(root))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "uploading"
        temps = [p for p in (root / "blobs").iterdir() if p.name.startswith(".tmp-")]
        assert len(temps) == 1 and temps[0].stat().st_size > 2 * MIB
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert [p.name for p in (root / "blobs").iterdir() if not p.name.startswith(".")] == []
    store = BlobStore(root)  # opening sweeps the dead upload's temp file
    assert [*store.list()] == []
    assert temp_files(store) == []
    cid = store.put_bytes(b"after the crash")
    assert [*store.list()] == [cid]
    assert store.get_bytes(cid) == b"after the crash"


def test_sweep_spares_live_uploads(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    staged = backend.stage()
    staged.write(b"in flight")
    dead = tmp_path / ".tmp-dead.part"
    dead.write_bytes(b"left by a killed process")
    assert LocalBackend(tmp_path).sweep() == 0  # the constructor already removed the dead one
    assert not dead.exists()
    assert len([*backend.temp_files()]) == 1
    assert staged.commit(cid_for_bytes(b"in flight"))
    assert [*backend.list()] == [cid_for_bytes(b"in flight")]
    assert [*backend.temp_files()] == []


def test_failed_uploads_leave_no_files(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, max_blob_bytes=2 * MIB)
    with pytest.raises(BlobTooLarge):
        store.put_stream(iter([b"z" * MIB] * 5))
    with pytest.raises(ZeroDivisionError):
        store.put_stream(b"z" * (MIB // 2 * i) + bytes(1 // (2 - i)) for i in range(5))
    assert [*(tmp_path / "blobs").iterdir()] == []


def test_stray_files_are_not_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    (tmp_path / "blobs" / "README").write_text("not a blob")
    (tmp_path / "blobs" / "sub").mkdir()
    cid = store.put_bytes(b"real")
    assert [*store.list()] == [cid]


def test_concurrent_identical_uploads_from_processes(tmp_path: Path) -> None:
    root, go, size = tmp_path / "s", tmp_path / "go", 6 * MIB + 123
    BlobStore(root)  # the key exists before the race (its own race is tested above)
    procs = [child("put", str(root), str(go), str(size)) for _ in range(3)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        go.touch()
        outputs = [proc.communicate(timeout=60)[0].strip() for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert all(proc.returncode == 0 for proc in procs)
    store = BlobStore(root)
    assert len(set(outputs)) == 1
    assert [*store.list()] == [outputs[0]] == blob_files(store)
    assert temp_files(store) == []
    assert store.size(outputs[0]) == size
    assert cid_for_bytes(store.get_bytes(outputs[0])) == outputs[0]


# -- memory ------------------------------------------------------------------------------------


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    """64 MiB through put_stream, read_to and open_stream with Python allocations < 32 MiB."""
    store = BlobStore(tmp_path / "s")
    block = os.urandom(MIB)
    total = 64 * MIB

    def generated() -> Iterator[bytes]:
        for i in range(total // MIB):
            yield block[i:] + block[:i]  # distinct content per MiB, one MiB alive at a time

    tracemalloc.start()
    try:
        cid = store.put_stream(generated())
        after_put = tracemalloc.get_traced_memory()[1]
        assert store.read_to(cid, tmp_path / "out") == total
        size = sum(len(segment) for segment in store.open_stream(cid))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size == total == (tmp_path / "out").stat().st_size
    assert after_put < 32 * MIB and peak < 32 * MIB, (after_put, peak)


def test_forked_child_can_still_store(tmp_path: Path) -> None:
    """The helper threads do not survive fork(); the child must get its own instead of hanging."""
    store = BlobStore(tmp_path)
    store.put_bytes(os.urandom(2 * MIB))  # the parent's pool is running now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            data = os.urandom(3 * MIB)
            os._exit(0 if store.get_bytes(store.put_bytes(data)) == data else 1)
        except BaseException:
            os._exit(2)
    for _ in range(200):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert len([*store.list()]) == 2
