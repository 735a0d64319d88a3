"""`BlobStream`: one blob's plaintext as verified segments (see `BlobStore.open_stream`).

Why a class of its own: the server hands a stream from the thread that opened it to the event
loop that sends it, and needs to know when the last segment went out without asking for one
more (`finished`); and a stream abandoned half-way must close its file (`close`, or `with`).
The final segment is withheld until the whole blob's hash is checked (when it is rehashed), so
a consumer that reads to the end never finishes on a mismatch.
"""

from __future__ import annotations

from types import TracebackType
from typing import BinaryIO, Self

from databright.store.errors import IntegrityError
from databright.store.lib.backend import cid_digest
from databright.store.lib.crypto import Opener
from databright.store.lib.pipeline import PipelinedSha256


class BlobStream:
    """Verified plaintext segments of one blob; closes the backend stream when done."""

    def __init__(self, cid: str, stream: BinaryIO, opener: Opener, *, rehash: bool = True) -> None:
        self.cid = cid
        self.segment_size = opener.segment_size
        self._stream = stream
        self._segments = opener.read_segments(stream)
        self._expected = cid_digest(cid)
        self._digest = PipelinedSha256() if rehash else None
        self._done = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        try:
            segment, last = next(self._segments)
        except BaseException:  # IntegrityError, I/O errors, and a (never expected) early end alike
            self.close()
            raise
        if self._digest is not None:
            self._digest.update(segment)
        if last:
            self.close()
            if self._digest is not None and self._digest.digest() != self._expected:
                raise IntegrityError(f"{self.cid}: content does not match its CID")
        return segment

    @property
    def finished(self) -> bool:
        """Whether every segment was given out (or the stream closed): `next` would only stop."""
        return self._done

    def close(self) -> None:
        self._done = True
        self._segments.close()
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
