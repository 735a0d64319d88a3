"""The hand-made session frames are protobuf's own bytes, and only one body shape is accepted."""

from __future__ import annotations

from databright.protocol import worker_pb2 as pb
from databright.protocol.framing import REPLY_FIELD, REQUEST_FIELD, body_of, request_frame, serialise
from databright.protocol.signing import body_digest, digest


def test_a_request_frame_is_what_protobuf_writes_and_its_body_is_found() -> None:
    body = pb.Ping(payload=pb.Tensor(dtype="float32", shape=[2], data=b"\0" * 8))
    frame = request_frame(pb.Request(id=7, job="0xab", unit=3, role="g0.w1"), "ping", serialise(body))
    whole = pb.FromCoordinator(request=pb.Request(id=7, job="0xab", unit=3, role="g0.w1", ping=body))
    assert frame == whole.SerializeToString(deterministic=True)
    found = body_of(frame, REQUEST_FIELD)
    assert found is not None and digest(found) == body_digest(body)


def test_an_empty_reply_body_is_found_as_empty() -> None:
    frame = pb.FromWorker(reply=pb.Reply(id=2, signature=b"s" * 65, ack=pb.Empty())).SerializeToString()
    assert body_of(frame, REPLY_FIELD) == b""


def test_only_one_body_in_one_envelope_is_accepted() -> None:
    one = pb.FromWorker(reply=pb.Reply(id=1, hash=pb.Hash(hash="a" * 64))).SerializeToString()
    assert body_of(one, REPLY_FIELD) is not None
    twice = one + pb.FromWorker(reply=pb.Reply(id=1, hash=pb.Hash(hash="b" * 64))).SerializeToString()
    assert body_of(twice, REPLY_FIELD) is None           # protobuf would merge the two replies
    inner = pb.Reply(id=1, hash=pb.Hash(hash="a" * 64)).SerializeToString() + b"\x62\x00"  # and an empty `unit`
    two_bodies = bytes([REPLY_FIELD << 3 | 2, len(inner)]) + inner
    assert pb.FromWorker.FromString(two_bodies).reply.WhichOneof("kind") == "unit"  # protobuf takes the last one
    assert body_of(two_bodies, REPLY_FIELD) is None
    assert body_of(pb.FromWorker(reply=pb.Reply(id=1)).SerializeToString(), REPLY_FIELD) is None  # no body
    assert body_of(one[:-3], REPLY_FIELD) is None        # truncated
    assert body_of(b"\xff" * 12, REPLY_FIELD) is None    # a varint that never ends
    assert body_of(pb.FromWorker(hello=pb.Hello(address="0x1")).SerializeToString(), REPLY_FIELD) is None
