"""The store server's HTTP protocol: uvicorn's httptools protocol, minus two copies of every body.

Why: uvicorn gathers the body pieces httptools hands it in a bytearray (``cycle.body += body``,
one copy) and gives them to the app as ``bytes(cycle.body)`` (a second copy). During an upload
memmove was 13 % of the store server's CPU time, most of it these two copies, all of it in the
event loop, the thread that receives every byte. Here the pieces are kept as the bytes objects
httptools made: when the app asks for the body, it gets that one piece itself if only one came
since it last asked (the usual case, as the store asks again as soon as it has handed a piece on),
else the pieces joined, one copy, as before.

Only `on_body` changes, and it keeps uvicorn's flow control (which reads ``len(cycle.body)``), so
the HTTP handling stays uvicorn's own. The stand-in for the bytearray supports exactly what
uvicorn does with it (``+=``, ``len``, ``bytes``); tests upload through the real server, so a
uvicorn release that handled the body otherwise would fail them. Without httptools (uvicorn
without its "standard" extras), `protocol()` falls back to uvicorn's choice.
"""

from __future__ import annotations

import asyncio
from typing import Self

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard], a dependency
    HttpToolsProtocol = None  # type: ignore[assignment, misc]


class BodyPieces:
    """Body pieces as received, standing in for uvicorn's bytearray (see the module docstring)."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def __iadd__(self, piece: bytes) -> Self:
        if not isinstance(piece, bytes):  # kept as it is only if nobody can change it afterwards
            piece = bytes(piece)
        self.pieces.append(piece)
        self.size += len(piece)
        return self

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)


if HttpToolsProtocol is not None:

    class StoreHttpProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, keeping body pieces uncopied (see the module docstring)."""

        def on_body(self, body: bytes) -> None:
            cycle = self.cycle
            if isinstance(cycle.body, bytearray):  # a new request, or the app took what had come
                gathered = bytes(cycle.body)
                cycle.body = BodyPieces()  # type: ignore[assignment]
                if gathered:
                    cycle.body += gathered
            super().on_body(body)


def protocol() -> type[asyncio.Protocol] | str:
    """What to pass as uvicorn's ``http`` setting for the store server."""
    return StoreHttpProtocol if HttpToolsProtocol is not None else "auto"
