"""How blobs travel between `StoreClient` and the server: both upload paths, kept-alive
connections and their failures, early refusals, and what is left behind when a transfer fails."""

from __future__ import annotations

import os
import queue
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from databright.cid import cid_for_bytes
from databright.store import AccessDenied, BlobNotFound, BlobTooLarge, IntegrityError
from databright.store.auth import sign_request
from databright.store.client import connections
from databright.store.client import store_client as client_module
from databright.store.errors import StoreError
from databright.store.server import app as server_module
from databright.store.server.uploads import BLOCK

from .conftest import MAX_UPLOAD, World, blob_names, temp_files


@pytest.mark.parametrize("size", [0, 1, BLOCK, BLOCK + 1, MAX_UPLOAD])
def test_uploads_store_the_body_and_record_the_uploader(w: World, tmp_path: Path, size: int) -> None:
    """Bodies of one block, of one block and a byte (two hops to the store), and of the limit."""
    content = os.urandom(size)
    source = tmp_path / "source"
    source.write_bytes(content)
    with w.client("stranger") as client:
        cid = client.upload_file(source)
        assert cid == cid_for_bytes(content) == client.upload_bytes(content)
        assert client.get_bytes(cid) == content
    assert w.policy.uploads.is_uploader(cid, w.accounts["stranger"])
    assert temp_files(w.store.root / "blobs") == []


def _pretend_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes the client's check of an idle connection miss that it is dead (a close racing the check)."""
    monkeypatch.setattr(connections.select, "select", lambda r, w, x, t: ([], [], []))


@pytest.mark.parametrize("transfer", ["upload", "download"])
def test_a_kept_alive_connection_that_died_is_replaced_once(
    w: World, monkeypatch: pytest.MonkeyPatch, transfer: str
) -> None:
    content = os.urandom(300_000)
    with w.client("stranger") as client:
        cid = client.upload_bytes(content)
        (idle,) = client._pool.idle
        assert idle.sock is not None
        idle.sock.shutdown(socket.SHUT_RDWR)  # as if the server had closed it while idle
        _pretend_alive(monkeypatch)
        if transfer == "upload":
            assert client.upload_bytes(content + b"!") == cid_for_bytes(content + b"!")
        else:
            assert client.get_bytes(cid) == content
        assert len(client._pool.idle) == 1 and client._pool.idle[0] is not idle


def test_an_idle_connection_the_server_closed_is_not_used(w: World) -> None:
    with w.client("stranger") as client:
        client.upload_bytes(b"first")
        (idle,) = client._pool.idle
        assert idle.sock is not None
        idle.sock.shutdown(socket.SHUT_RDWR)
        client.upload_bytes(b"second")  # the readable (closed) socket is dropped before use
        assert client._pool.idle and client._pool.idle[0] is not idle


def test_a_refusal_sent_before_the_body_is_read_is_reported(w: World) -> None:
    """The server answers 413 from the Content-Length alone (draining the body so that the answer
    can be read); the client, which did not ask the limit first here, reports that answer."""
    before = blob_names(w.store)
    with w.client("stranger") as client:
        client._max_upload = 1 << 40  # as if the limit had been lowered since the client asked
        with pytest.raises(BlobTooLarge, match="413"):
            client.upload_bytes(os.urandom(MAX_UPLOAD + 1))
        assert client.upload_bytes(b"still usable") == cid_for_bytes(b"still usable")
    assert sorted({*before, cid_for_bytes(b"still usable")}) == blob_names(w.store)


def test_a_file_that_shrinks_while_it_is_uploaded_keeps_nothing(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "CHUNK", 1 << 20)
    source = tmp_path / "shrinking"
    source.write_bytes(os.urandom(3 << 20))
    before = blob_names(w.store)
    # The server's put ends after the client has given up, so the test waits for that put itself:
    # waiting for the temp file to vanish could end before the server had even created it.
    stored, outcomes = w.store.put_stream, queue.Queue[BaseException | str]()

    def watched_put(*args: Any, **kwargs: Any) -> str:
        try:
            cid = stored(*args, **kwargs)
        except BaseException as exc:
            outcomes.put(exc)
            raise
        outcomes.put(cid)
        return cid

    monkeypatch.setattr(w.store, "put_stream", watched_put)

    def truncate(done: int, total: int) -> None:
        if done == 1 << 20:
            os.truncate(source, 1 << 20)

    with w.client("stranger") as client, pytest.raises(StoreError, match="shrank while it was uploaded"):
        client.upload_file(source, progress=truncate)
    # The server learns of the broken-off upload from the closed connection, an instant later.
    assert not isinstance(outcomes.get(timeout=30), str)  # the put failed: nothing was stored
    assert blob_names(w.store) == before and temp_files(w.store.root / "blobs") == []


@pytest.mark.parametrize(("kind", "error"), [("validation", AccessDenied), ("deleted", BlobNotFound)])
def test_a_refused_download_leaves_no_file_behind(w: World, tmp_path: Path, kind: str, error: type[Exception]) -> None:
    with w.client("stranger") as client:
        if kind == "deleted":
            cid = client.upload_bytes(b"uploaded, then lost")
            w.store.delete(cid)
        else:
            cid = w.blobs[kind]
        with pytest.raises(error):
            client.download(cid, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_another_blobs_file_under_a_name_is_refused_before_any_byte(w: World, tmp_path: Path) -> None:
    """The key of a stored blob is bound to its CID: the server's check fails at the header."""
    with w.client("contributor") as client:
        good, evil = client.upload_bytes(os.urandom(5000)), client.upload_bytes(os.urandom(5000))
        blobs = w.store.root / "blobs"
        (blobs / good).write_bytes((blobs / evil).read_bytes())
        (tmp_path / "out").write_bytes(b"kept")
        with pytest.raises(IntegrityError, match="another blob is stored under this name"):
            client.download(good, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"kept" and [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("size", [1, 300_000, (2 << 20) + 7])
def test_a_whole_body_that_is_not_the_blob_is_refused_and_leaves_the_destination(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A server that sends every byte but not the right ones (here: one flipped in the first
    segment) is caught by the client's own hash: the temp file was made durable meanwhile
    (`settle`), and is removed; the destination keeps what it had."""
    real = server_module._check_and_open

    def lying(*args: object) -> object:
        decision, opened = real(*args)  # type: ignore[arg-type]
        if opened is not None:
            stream, first, size = opened
            assert first is not None
            opened = (stream, bytes([first[0] ^ 1]) + first[1:], size)
        return decision, opened

    content = os.urandom(size)
    with w.client("stranger") as client:
        cid = client.upload_bytes(content)
        monkeypatch.setattr(server_module, "_check_and_open", lying)
        (tmp_path / "out").write_bytes(b"kept")
        with pytest.raises(IntegrityError, match="does not match its CID"):
            client.download(cid, tmp_path / "out")
        with pytest.raises(IntegrityError, match="does not match its CID"):
            client.get_bytes(cid)
        monkeypatch.setattr(server_module, "_check_and_open", real)
        assert client.download(cid, tmp_path / "out") == size  # the connection was kept usable
    assert (tmp_path / "out").read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failing_settle_leaves_no_file_and_lets_the_hash_finish(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If making the temp file durable fails (a full disk, say), the download fails with it and
    removes the temp file; the next download works."""
    content = os.urandom(3 << 20)
    with w.client("stranger") as client:
        cid = client.upload_bytes(content)
        real_fsync = os.fsync

        def failing_fsync(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(client_module.os, "fsync", failing_fsync)
        with pytest.raises(OSError, match="No space left"):
            client.download(cid, tmp_path / "out")
        assert list(tmp_path.iterdir()) == []
        monkeypatch.setattr(client_module.os, "fsync", real_fsync)
        assert client.download(cid, tmp_path / "out") == len(content)
    assert (tmp_path / "out").read_bytes() == content


def test_connections_send_each_write_at_once(w: World) -> None:
    """TCP_NODELAY on the client's side too: the end of a body never waits for an acknowledgement."""
    with w.client("stranger") as client:
        client.upload_bytes(os.urandom(100_000))
        (idle,) = client._pool.idle
        assert idle.sock is not None
        assert idle.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_read_starts_the_disk_before_its_checks_and_a_bad_name_does_not(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prefetch comes before routing and the signature check (it only warms the cache), so
    even a refused read asks for its blob; a path that is no CID asks for nothing."""
    asked: list[str] = []
    monkeypatch.setattr(w.store.backend, "prefetch", asked.append)
    cid = w.blobs["validation"]
    unsigned = httpx.get(f"{w.url}/blobs/{cid}", timeout=10)
    assert unsigned.status_code == 401 and asked == [cid]
    bad = httpx.get(f"{w.url}/blobs/not-a-cid", timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_cid" and asked == [cid]
    with w.client("contributor") as client:
        mine = client.upload_bytes(b"read back by its uploader")
        assert client.get_bytes(mine) == b"read back by its uploader"
    assert asked == [cid, mine]


def test_a_download_sent_again_on_a_new_connection_is_still_made_durable(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry on a fresh connection writes to the same temp file and fsyncs it before the
    rename, as a first attempt does."""
    content = os.urandom(300_000)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    with w.client("stranger") as client:
        cid = client.upload_bytes(content)
        (idle,) = client._pool.idle
        assert idle.sock is not None
        idle.sock.shutdown(socket.SHUT_RDWR)
        _pretend_alive(monkeypatch)
        monkeypatch.setattr(client_module.os, "fsync", fsync)
        assert client.download(cid, tmp_path / "out") == len(content)
    assert (tmp_path / "out").read_bytes() == content
    assert len(synced) == 1 and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_upload_bytes_reports_its_progress_chunk_by_chunk(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "CHUNK", 1 << 20)
    content = os.urandom(3 * client_module.CHUNK + 5)
    seen: list[tuple[int, int]] = []
    with w.client("stranger") as client:
        assert client.upload_bytes(content, progress=lambda done, total: seen.append((done, total))) \
            == cid_for_bytes(content)
    assert seen == [(n * client_module.CHUNK, len(content)) for n in (1, 2, 3)] + [(len(content), len(content))]


@pytest.mark.parametrize("pieces", [[1], [3, 70_000, 1], [200_000] * 3])
def test_a_body_sent_in_pieces_with_pauses_arrives_whole(w: World, pieces: list[int]) -> None:
    """A raw request whose body comes in separate writes (so that several reads, and several
    `on_body` calls between two reads of the app, happen) is stored byte for byte."""
    with w.client("stranger") as client:
        client.upload_bytes(b"warm")  # the client learns the limit; its signature helper is used below
        content = os.urandom(sum(pieces))
        headers = {**sign_request(client.signer, "POST", "/blobs"), "Content-Length": str(len(content)),
                   "Content-Type": "application/octet-stream", "Host": "store"}
        head = "POST /blobs HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        host, port = w.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head.encode())
            done = 0
            for size in pieces:
                sock.sendall(content[done : done + size])
                done += size
                time.sleep(0.01)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        assert answer.startswith(b"HTTP/1.1 200")
        assert cid_for_bytes(content).encode() in answer
        assert client.get_bytes(cid_for_bytes(content)) == content
