"""The store server over real HTTP: the access matrix, every refusal, limits, integrity, concurrency."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from databright.cid import cid_for_bytes
from databright.errors import ChainError, CidError
from databright.store import AccessDenied, BlobNotFound, BlobStore, BlobTooLarge, IntegrityError, NotAuthenticated
from databright.store.auth import HEADER_ADDRESS, HEADER_SIGNATURE, sign_request
from databright.store.client import StoreClient
from databright.store.errors import StoreError
from databright.store.server import ServerThread, create_app
from databright.store.server.access import ChainAccessPolicy, Decision

from .conftest import MAX_UPLOAD, World, blob_names, temp_files

KINDS = ("spec", "validation", "data", "unproposed")
# role -> the kinds it may read (spec, validation set, proposed data, unproposed upload)
MATRIX = {
    "contributor": {"spec", "data", "unproposed"},  # proposer of `data`, uploader of `data` and `unproposed`
    "curator": {"spec", "validation", "data"},
    "delegate": {"spec", "validation", "data"},
    "delegated_away": {"spec"},
    "other_curator": {"spec"},  # power in another request only
    "stranger": {"spec"},
    "coordinator": {"spec", "validation", "data"},
    "initiator": {"spec", "validation"},  # uploaded them; no power of its own
}


@pytest.mark.parametrize("role", sorted(MATRIX))
def test_access_matrix(w: World, role: str) -> None:
    with w.client(role) as client:
        for kind in KINDS:
            if kind in MATRIX[role]:
                assert client.get_bytes(w.blobs[kind]) == w.data[kind], (role, kind)
            else:
                with pytest.raises(AccessDenied, match="403") as denied:
                    client.get_bytes(w.blobs[kind])
                assert denied.value.exit_code == 6, (role, kind)


def get(w: World, cid: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{w.url}/blobs/{cid}", headers=headers)


def signed(w: World, role: str, cid: str, timestamp: int | None = None) -> dict[str, str]:
    return sign_request(w.signer(role), "GET", f"/blobs/{cid}", cid, timestamp=timestamp)


def test_refusals_are_json_and_logged(w: World, caplog: pytest.LogCaptureFixture) -> None:
    cid = w.blobs["validation"]
    with caplog.at_level(logging.WARNING, logger="databright.store.server"):
        denied = get(w, cid, signed(w, "stranger", cid))
        unsigned = get(w, cid, {})
    assert denied.status_code == 403 and denied.json()["error"] == "access_denied"
    assert "validation set" in denied.json()["reason"]
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "not_authenticated"
    logged = [r.getMessage() for r in caplog.records if r.name == "databright.store.server"]
    assert any("403 access_denied" in m and w.accounts["stranger"] in m for m in logged)
    assert any("401 not_authenticated" in m and "missing header" in m for m in logged)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "unsigned request"),
        ("forged", "bad signature"),
        ("other_key", "bad signature: it is not"),
        ("stale", "stale signature"),
        ("future", "signature from the future"),
        ("other_cid", "bad signature"),
    ],
)
def test_unauthenticated_reads_get_401(w: World, case: str, reason: str) -> None:
    cid, role = w.blobs["data"], "curator"  # a read the curator may do, when properly signed
    headers = {
        "missing": lambda: {k: v for k, v in signed(w, role, cid).items() if k != HEADER_SIGNATURE},
        "forged": lambda: signed(w, role, cid) | {HEADER_SIGNATURE: "0x" + os.urandom(65).hex()},
        "other_key": lambda: signed(w, "stranger", cid) | {HEADER_ADDRESS: w.accounts[role]},
        "stale": lambda: signed(w, role, cid, timestamp=int(time.time()) - 301),
        "future": lambda: signed(w, role, cid, timestamp=int(time.time()) + 120),
        "other_cid": lambda: signed(w, role, w.blobs["spec"]),
    }[case]()
    response = get(w, cid, headers)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated" and reason in response.json()["reason"]


def test_a_replayed_read_is_refused(w: World) -> None:
    cid = w.blobs["data"]
    headers = signed(w, "curator", cid)
    assert get(w, cid, headers).content == w.data["data"]
    replay = get(w, cid, headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["reason"]


def test_client_maps_a_bad_signature_to_not_authenticated(w: World) -> None:
    class WrongKey:
        address = w.accounts["curator"]
        key = w.signer("stranger").key

    with StoreClient(w.url, WrongKey()) as client, pytest.raises(NotAuthenticated, match="401") as refused:
        client.get_bytes(w.blobs["data"])
    assert refused.value.exit_code == 6


def test_unknown_and_malformed_cids(w: World) -> None:
    with w.client("contributor") as client:
        gone = client.upload_bytes(b"uploaded, then lost")
        w.store.delete(gone)
        with pytest.raises(BlobNotFound, match="404"):
            client.get_bytes(gone)
        with pytest.raises(CidError):
            client.get_bytes("not-a-cid")
    bad = httpx.get(f"{w.url}/blobs/not-a-cid")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_cid"


def test_upload_answers_cid_and_size_and_records_the_uploader(w: World, tmp_path: Path) -> None:
    content = os.urandom(3 << 20)
    source = tmp_path / "data.bin"
    source.write_bytes(content)
    seen: list[tuple[int, int]] = []
    with w.client("stranger") as client:
        cid = client.upload_file(source, progress=lambda done, total: seen.append((done, total)))
        assert cid == cid_for_bytes(content) and seen[-1] == (len(content), len(content))
        client.download(cid, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == content
    assert w.policy.uploads.uploaders(cid) == [w.accounts["stranger"]]
    answer = httpx.post(f"{w.url}/blobs", content=b"abc", headers=sign_request(w.signer("stranger"), "POST", "/blobs"))
    assert answer.json() == {"cid": cid_for_bytes(b"abc"), "size": 3}
    assert httpx.get(f"{w.url}/info").json()["max_upload_bytes"] == MAX_UPLOAD


def test_unsigned_upload_is_refused_and_nothing_stored(w: World) -> None:
    before = blob_names(w.store)
    answer = httpx.post(f"{w.url}/blobs", content=b"anonymous data")
    assert answer.status_code == 401 and answer.json()["error"] == "not_authenticated"
    assert blob_names(w.store) == before


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upload_over_the_limit_gets_413_and_nothing_is_stored(w: World, framing: str) -> None:
    before = blob_names(w.store)
    body = os.urandom(MAX_UPLOAD + 1)
    content: bytes | object = body if framing == "content-length" else iter([body[: 5 << 20], body[5 << 20 :]])
    answer = httpx.post(f"{w.url}/blobs", content=content,  # type: ignore[arg-type]
                        headers=sign_request(w.signer("stranger"), "POST", "/blobs"), timeout=30)
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    assert blob_names(w.store) == before and temp_files(w.store.root / "blobs") == []
    with w.client("stranger") as client, pytest.raises(BlobTooLarge, match="limit"):
        client.upload_bytes(body)  # refused before sending: the client asked the server's limit
    assert blob_names(w.store) == before


def test_tampered_blob_gives_integrity_error_and_no_file(w: World, tmp_path: Path) -> None:
    with w.client("contributor") as client:
        cid = client.upload_bytes(b"precious data " * 1000)
        blob = w.store.root / "blobs" / cid
        raw = bytearray(blob.read_bytes())
        raw[-100] ^= 1
        blob.write_bytes(bytes(raw))
        with pytest.raises(IntegrityError, match="integrity") as failed:
            client.download(cid, tmp_path / "out")
        assert failed.value.exit_code == 5
        assert list(tmp_path.iterdir()) == []
    answer = get(w, cid, signed(w, "contributor", cid))
    assert answer.status_code == 500 and answer.json()["error"] == "integrity"


def test_tamper_found_mid_stream_aborts_the_response(w: World, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Past the first segment the status is sent: the server cuts the body short instead."""
    store = BlobStore(tmp_path / "small-segments", segment_size=64 << 10)
    content = os.urandom(1 << 20)
    out = tmp_path / "out"
    out.mkdir()
    with ServerThread(create_app(store, ChainAccessPolicy(w.market, store=store), MAX_UPLOAD)) as server, \
            StoreClient(server.url, w.signer("contributor")) as client:
        cid = client.upload_bytes(content)
        blob = store.root / "blobs" / cid
        raw = bytearray(blob.read_bytes())
        raw[len(raw) // 2] ^= 1
        blob.write_bytes(bytes(raw))
        with caplog.at_level(logging.ERROR, logger="databright.store.server"), \
                pytest.raises(IntegrityError, match="stopped sending"):
            client.download(cid, out / "blob")
        with pytest.raises(IntegrityError):
            client.get_bytes(cid)
    assert list(out.iterdir()) == []
    assert any("integrity" in r.getMessage() and cid in r.getMessage() for r in caplog.records)


def test_concurrent_identical_uploads_make_one_blob(w: World) -> None:
    content = os.urandom(3 << 20)
    roles = ["stranger", "curator", "delegate", "contributor", "stranger", "curator"]

    def upload(role: str) -> str:
        with w.client(role) as client:
            return client.upload_bytes(content)

    with ThreadPoolExecutor(len(roles)) as pool:
        cids = list(pool.map(upload, roles))
    assert set(cids) == {cid_for_bytes(content)}
    assert blob_names(w.store).count(cids[0]) == 1 and temp_files(w.store.root / "blobs") == []
    assert sorted(w.policy.uploads.uploaders(cids[0])) == sorted({w.accounts[r] for r in roles})


def test_unreachable_server_is_a_store_error(free_port: int) -> None:
    with StoreClient(f"http://127.0.0.1:{free_port}", Account.create()) as client:
        with pytest.raises(StoreError, match="cannot reach the store server"):
            client.upload_bytes(b"x")
        with pytest.raises(StoreError, match="cannot reach the store server"):
            client.get_bytes(cid_for_bytes(b"x"))


def test_server_thread_stops_cleanly(w: World) -> None:
    with ServerThread(create_app(w.store, w.policy, 10)) as server:
        assert httpx.get(f"{server.url}/info").json() == {"service": "databright-store", "max_upload_bytes": 10}
        url = server.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/info")


def test_a_chain_failure_is_a_json_503(w: World) -> None:
    class Down:
        def check_read(self, address: str, cid: str) -> Decision:
            raise ChainError("no chain answers at http://127.0.0.1:1")

    cid = w.blobs["spec"]
    with ServerThread(create_app(w.store, Down(), MAX_UPLOAD)) as server:
        answer = httpx.get(f"{server.url}/blobs/{cid}", headers=signed(w, "stranger", cid))
    assert answer.status_code == 503 and answer.json()["error"] == "chain_unavailable"


def test_downloads_span_several_buffers_and_reuse_the_connection(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob of more than two client buffers (CHUNK) comes back whole both ways (`download` fills
    two buffers in turn, `get_bytes` keeps each one), over one kept-alive connection, and a
    connection the server closed while idle is replaced without the caller noticing."""
    from databright.store.client import store_client as client_module

    monkeypatch.setattr(client_module, "CHUNK", 1 << 20)  # so that a blob under MAX_UPLOAD spans 4 buffers
    data = os.urandom(3 * client_module.CHUNK + 12345)
    with w.client("stranger") as client:
        cid = client.upload_bytes(data)
        assert client.get_bytes(cid) == data
        assert client.download(cid, tmp_path / "out") == len(data)
        assert (tmp_path / "out").read_bytes() == data
        assert len(client._pool.idle) == 1  # one connection, given back after each complete read
        client._pool.idle[0].sock.close()  # type: ignore[union-attr]  # as if the server had dropped it
        assert client.get_bytes(cid) == data
        assert len(client._pool.idle) == 1
