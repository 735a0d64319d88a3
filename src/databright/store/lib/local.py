"""The default backend: one file per blob in a local folder, named by its CID.

Atomicity comes from the classic pattern: an upload goes to a temp file in the same folder (so
the final rename cannot cross filesystems), is fsynced, then `os.replace`d onto its CID name and
the folder is fsynced. A reader therefore sees either no blob or the whole blob, even across a
crash or a SIGKILL mid-upload. Temp files are dotfiles (``.tmp-*.part``), which `list` and
`exists` never report.

Identical concurrent uploads (threads or processes) each write their own temp file. Whoever
commits first publishes; a later committer that finds the name taken drops its copy, and if two
commit at the same instant the second `os.replace` swaps one complete, valid copy for another,
so there is still exactly one file and no reader ever sees a partial one.

Stale temp files are detected without guessing from ages: every writer holds an exclusive
`flock` on its temp file for the whole upload, and the kernel drops that lock when the process
dies. `sweep()` (run when the backend is created) deletes only temp files it can lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from databright.errors import CidError
from databright.store.errors import BlobNotFound, StoreError
from databright.store.lib.backend import BlobBackend, Chunk, StagedBlob, canonical_cid
from databright.store.lib.fsutil import StreamingWriter, fsync_dir, prefetch

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".part"


class LocalBackend(BlobBackend):
    """Blobs as files ``<folder>/<cid>``; uploads staged as ``<folder>/.tmp-*.part``."""

    def __init__(self, folder: Path, *, durable: bool = True) -> None:
        """`durable=False` skips the fsyncs: only for throwaway stores (tests, benchmarks)."""
        self.folder = Path(folder)
        self.durable = durable
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.folder)!r})"

    def path(self, cid: str) -> Path:
        """The file that holds `cid` (whether or not it exists)."""
        return self.folder / canonical_cid(cid)

    def stage(self) -> StagedBlob:
        return _LocalStaged(self)

    def prefetch(self, cid: str) -> None:
        try:
            fd = os.open(self.path(cid), os.O_RDONLY)
        except (OSError, CidError):
            return
        try:
            prefetch(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def open(self, cid: str) -> BinaryIO:
        try:
            # Unbuffered: the store reads whole segments, so a buffer would only add a copy.
            return open(self.path(cid), "rb", buffering=0)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {cid}") from None

    def exists(self, cid: str) -> bool:
        return self.path(cid).is_file()

    def stored_size(self, cid: str) -> int:
        try:
            return self.path(cid).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {cid}") from None

    def delete(self, cid: str) -> bool:
        try:
            self.path(cid).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self) -> Iterator[str]:
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    if canonical_cid(entry.name) == entry.name:
                        yield entry.name
                except CidError:
                    continue  # a stray file someone put here is not a blob

    def temp_files(self) -> Iterator[Path]:
        """Upload temp files, live or stale."""
        return (p for p in self.folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}") if p.is_file())

    def sweep(self) -> int:
        """Deletes temp files left by dead uploads (those nobody holds a lock on); returns how many."""
        removed = 0
        for path in self.temp_files():
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # its upload just finished or aborted
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live upload
                # Unlinking while holding the lock: a writer that created the file an instant ago
                # cannot lock it, and one that already did notices the unlink (see _LocalStaged).
                if _same_file(fd, path):
                    path.unlink(missing_ok=True)
                    removed += 1
            finally:
                os.close(fd)
        return removed


class _LocalStaged(StagedBlob):
    """A temp file held under an exclusive lock until commit or abort."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        for _ in range(100):
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=backend.folder)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(fd, Path(name)):
                    break
            except (BlockingIOError, FileNotFoundError):
                pass
            os.close(fd)  # a sweep got to the file between its creation and our lock: try again
        else:  # pragma: no cover - would need 100 lost races in a row
            raise StoreError(f"could not create an upload temp file in {backend.folder}")
        self._fd: int | None = fd
        self._writer = StreamingWriter(fd)
        self._temp = Path(name)

    def write(self, data: Chunk) -> None:
        if self._fd is None:
            raise StoreError("write after commit or abort")
        self._writer.write(data)

    def rewrite_head(self, data: Chunk) -> None:
        if self._fd is None:
            raise StoreError("write after commit or abort")
        if len(data) > self._writer.written:
            raise ValueError("rewrite_head may only replace bytes already written")
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self._fd, view, len(data) - len(view)) :]

    def commit(self, cid: str) -> bool:
        if self._fd is None:
            raise StoreError("commit after commit or abort")
        final = self._backend.path(cid)
        if final.exists():
            self.abort()
            return False
        if self._backend.durable:
            os.fsync(self._fd)
        os.replace(self._temp, final)
        fd, self._fd = self._fd, None
        os.close(fd)  # only now: the lock protected the temp file up to the rename
        if self._backend.durable:
            fsync_dir(self._backend.folder)
        return True

    def abort(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(FileNotFoundError):
            self._temp.unlink()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (it may have been unlinked meanwhile)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    info = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (info.st_ino, info.st_dev)
