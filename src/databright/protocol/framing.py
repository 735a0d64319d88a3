"""Session messages framed by hand around a body serialised once, and the body found in what arrives.

A signed statement names the digest of a request's and a reply's body (`signing.ResultStatement`).
Built the plain way, a body of a few MiB is serialised for its digest, copied into the Request or Reply,
copied again into the session envelope and serialised again by gRPC; the other side re-serialises
what it parsed, to hash it. Here the coordinator serialises a request's body once (deterministically),
hashes those bytes and writes the envelope around them (the same bytes protobuf itself would write:
fields in number order, the body last), and hashes a reply's body where it lies in the bytes that
arrived. The worker still builds its replies the plain way (serialised deterministically, so the bytes
it sends are the ones it hashed and signed) and re-serialises a request to hash it.

`body_of` reads untrusted bytes, so it accepts only the one shape an honest peer sends: the envelope
holds exactly one field (the request or the reply), and that holds exactly one body field (a field
number >= 10, length-delimited). Protobuf would merge a body sent twice, so a second one, a
truncated field or a malformed varint gives None, and the receiver refuses the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from google.protobuf.message import Message

from databright.protocol import worker_pb2 as pb
from databright.protocol.errors import ProtocolError

REQUEST_FIELD = pb.FromCoordinator.DESCRIPTOR.fields_by_name["request"].number
REPLY_FIELD = pb.FromWorker.DESCRIPTOR.fields_by_name["reply"].number
FIRST_BODY = 10  # Request's and Reply's oneof bodies are the fields numbered from 10 (worker.proto)
_REQUEST_KINDS = {f.name: f.number for f in pb.Request.DESCRIPTOR.oneofs_by_name["kind"].fields}
_REPLY_KINDS = {f.name: f.number for f in pb.Reply.DESCRIPTOR.oneofs_by_name["kind"].fields}
if min(_REQUEST_KINDS.values()) < FIRST_BODY or min(_REPLY_KINDS.values()) < FIRST_BODY:
    raise ProtocolError("worker.proto: a body field numbered below 10 would be taken for a head field")


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, length: int) -> bytes:
    """The tag and length of a length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(length)


def serialise(body: Message) -> bytes:
    """A body's bytes as they travel and are hashed: protobuf's deterministic serialisation."""
    return body.SerializeToString(deterministic=True)


def request_frame(head: pb.Request, kind: str, body: bytes) -> bytes:
    """The serialised FromCoordinator carrying `head` (id, job, unit, role) with `body` as its `kind`."""
    request = head.SerializeToString(deterministic=True) + _field(_REQUEST_KINDS[kind], len(body))
    return b"".join((_field(REQUEST_FIELD, len(request) + len(body)), request, body))


def _read_varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: memoryview) -> list[tuple[int, memoryview | None]]:
    """(field number, payload if length-delimited) of every field, in order; ValueError if malformed."""
    out: list[tuple[int, memoryview | None]] = []
    at = 0
    while at < len(data):
        tag, at = _read_varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, at = _read_varint(data, at)
            out.append((number, None))
        elif wire == 2:
            length, at = _read_varint(data, at)
            if at + length > len(data):
                raise ValueError("truncated")
            out.append((number, data[at:at + length]))
            at += length
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
            if at > len(data):
                raise ValueError("truncated")
            out.append((number, None))
        else:
            raise ValueError("wire type")
    return out


def body_of(raw: bytes, envelope_field: int) -> memoryview | None:
    """The bytes of the body inside an envelope holding one request (or reply), as it arrived; None if
    the message has any other shape (see the module's docstring)."""
    try:
        outer = _fields(memoryview(raw))
        if len(outer) != 1 or outer[0][0] != envelope_field or outer[0][1] is None:
            return None
        bodies = [f for f in _fields(outer[0][1]) if f[0] >= FIRST_BODY]
    except ValueError:
        return None
    if len(bodies) != 1 or bodies[0][1] is None:
        return None
    return bodies[0][1]


def write(message: Message | bytes) -> bytes:
    """A gRPC serializer for a session: frames come ready-made, other messages are serialised."""
    return message if isinstance(message, bytes) else message.SerializeToString()


class Received(NamedTuple):
    """A parsed session message and, for a request or reply, its body's bytes as they arrived."""

    message: Message
    body: memoryview | None


def reader(message_type: type[Message], envelope_field: int) -> Callable[[bytes], Received]:
    """A gRPC deserializer giving a `Received` for each message of `message_type`."""
    def deserialize(raw: bytes) -> Received:
        return Received(message_type.FromString(raw), body_of(raw, envelope_field))
    return deserialize
