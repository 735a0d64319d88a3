"""The store server's HTTP protocol: request bodies reach the app uncopied, and whole."""

from __future__ import annotations

import os
import socket
import time

import pytest

from databright.cid import cid_for_bytes
from databright.store import http_protocol
from databright.store.auth import sign_request
from databright.store.http_protocol import BodyPieces

from .conftest import World


def test_one_piece_is_handed_over_as_it_is() -> None:
    piece = os.urandom(300_000)
    body = BodyPieces()
    body += piece
    assert len(body) == len(piece) and bytes(body) is piece  # no copy


def test_several_pieces_are_joined_in_order() -> None:
    body = BodyPieces()
    for piece in (b"ab", b"", b"cde"):
        body += piece
    assert len(body) == 5 and bytes(body) == b"abcde"
    assert bytes(BodyPieces()) == b""


def test_a_mutable_piece_is_copied_so_that_it_cannot_change_later() -> None:
    source = bytearray(b"mutable")
    body = BodyPieces()
    body += source  # type: ignore[arg-type]
    source[:] = b"changed"
    assert bytes(body) == b"mutable"


def test_the_server_runs_the_store_protocol() -> None:
    pytest.importorskip("httptools")
    assert http_protocol.protocol() is http_protocol.StoreHttpProtocol


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
