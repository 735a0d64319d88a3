"""The protocol's pieces on their own: the tensor codec's checks, safetensors states, signatures."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from coincurve import PrivateKey
from eth_account import Account

from databright.protocol import worker_pb2 as pb
from databright.protocol.codec import decode, encode
from databright.protocol.errors import ProtocolError
from databright.protocol.signing import ResultStatement, challenge_text, recover_text, sign_text, signed_by
from databright.protocol.state import check_like, pack_state, unpack_state
from databright.training.replica import Replica, packed_state_hash
from databright.training.spec import JobSpec


def test_a_tensor_round_trips_exactly() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = encode(a)
    assert (t.dtype, list(t.shape), len(t.data)) == ("float32", [3, 4], 48)
    b = decode(t, dtype="float32", shape=(None, 4))
    assert b.flags.writeable and np.array_equal(a, b)
    assert np.array_equal(decode(encode(np.array([1, 2], dtype=np.int64))), [1, 2])


@pytest.mark.parametrize(("tensor", "kw", "match"), [
    (pb.Tensor(dtype="float64", shape=[1], data=b"\0" * 8), {}, "not allowed"),
    (pb.Tensor(dtype="object", shape=[1], data=b"\0" * 8), {}, "not allowed"),
    (pb.Tensor(dtype="int64", shape=[2], data=b"\0" * 16), {"dtype": "float32"}, "expected float32"),
    (pb.Tensor(dtype="float32", shape=[2, 3], data=b"\0" * 24), {"shape": (2, 4)}, "expected"),
    (pb.Tensor(dtype="float32", shape=[2, 3], data=b"\0" * 24), {"shape": (2, 3, 1)}, "expected"),
    (pb.Tensor(dtype="float32", shape=[4], data=b"\0" * 15), {}, "15 bytes"),
    (pb.Tensor(dtype="float32", shape=[4], data=b"\0" * 17), {}, "17 bytes"),
    (pb.Tensor(dtype="float32", shape=[1 << 20, 1 << 20], data=b""), {}, "out of bounds"),
    (pb.Tensor(dtype="float32", shape=[1] * 9, data=b"\0" * 4), {}, "out of bounds"),
    (encode(np.array([1.0, np.nan], dtype=np.float32)), {}, "not finite"),
    (encode(np.array([np.inf], dtype=np.float32)), {}, "not finite"),
])
def test_the_codec_refuses_what_does_not_match(tensor: pb.Tensor, kw: dict[str, object], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode(tensor, **kw)  # type: ignore[arg-type]


def test_a_float64_array_is_not_sent() -> None:
    with pytest.raises(ProtocolError, match="not sent"):
        encode(np.zeros(2, dtype=np.float64))


def _replica(optimizer: str = "sgd") -> Replica:
    key = PrivateKey(b"\x07" * 32).public_key.format().hex()
    spec = JobSpec.build(dataset="0x" + "11" * 20, buyer_key=key, training={"optimizer": optimizer, "seed": 1})
    r = Replica(spec, (8, 8), 10)
    r.train_steps([np.random.default_rng(0).random((16, 8, 8), dtype=np.float32)], [np.arange(16) % 10])
    return r


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_state_round_trips_through_safetensors_with_its_hash(optimizer: str) -> None:
    r = _replica(optimizer)
    blob = r.snapshot()
    assert blob[8:9] == b"{"  # a safetensors header, not a pickle
    assert packed_state_hash(blob) == r.state_hash()
    other = _replica(optimizer)
    other.load(blob)
    assert other.state_hash() == r.state_hash()
    state = unpack_state(blob)
    assert list(state["model"]) == list(r.model.state_dict())
    check_like(blob, state)


def test_a_pickled_state_is_refused() -> None:
    buf = io.BytesIO()
    torch.save({"model": {}, "optimizer": {}}, buf)
    for blob in (buf.getvalue(), pickle.dumps({"model": {}}), b"", b"\xff" * 64):
        with pytest.raises(ProtocolError):
            unpack_state(blob)


def test_a_state_unlike_the_template_is_refused() -> None:
    r = _replica()
    template = unpack_state(r.snapshot())
    model = dict(r.model.state_dict())
    bad_shape = {**model, "1.weight": torch.zeros(3, 3)}
    with pytest.raises(ProtocolError, match="expected"):
        check_like(pack_state(bad_shape, r.optimizer.state_dict()), template)
    missing = {k: v for k, v in model.items() if k != "1.bias"}
    with pytest.raises(ProtocolError, match="not the job's"):
        check_like(pack_state(missing, r.optimizer.state_dict()), template)
    nan = {**model, "1.bias": torch.full_like(model["1.bias"], float("nan"))}
    with pytest.raises(ProtocolError, match="not finite"):
        check_like(pack_state(nan, r.optimizer.state_dict()), template)
    doubled = {**model, "1.bias": model["1.bias"].double()}
    with pytest.raises(ProtocolError, match="float64"):
        check_like(pack_state(doubled, r.optimizer.state_dict()), template)


def test_signatures_are_eth_accounts_eip191_signatures() -> None:
    from eth_account.messages import encode_defunct

    key = Account.create()
    for text in ("", "hello", "DataBright result\njob: 1\nünicode"):
        ours = sign_text(key, text)
        assert ours == bytes(key.sign_message(encode_defunct(text=text)).signature)
        assert Account.recover_message(encode_defunct(text=text), signature=ours) == key.address
        assert recover_text(text, ours) == key.address


def test_signatures_bind_the_signer_and_the_statement() -> None:
    key, other = Account.create(), Account.create()
    ch = pb.Challenge(nonce=b"\1" * 32, coordinator="0x" + "10" * 20, chain_id=7, market="0x" + "20" * 20, expires=9)
    sig = sign_text(key, challenge_text(ch))
    assert recover_text(challenge_text(ch), sig) == key.address
    assert signed_by(challenge_text(ch), sig, key.address) and not signed_by(challenge_text(ch), sig, other.address)
    assert signed_by(challenge_text(ch), sig, key.address.lower())  # an address in any case
    assert not signed_by(challenge_text(ch), sig[:64] + b"\x1d", key.address)  # a bad recovery id: no, not a crash
    assert not signed_by(challenge_text(ch), b"\0" * 64 + b"\x1b", key.address)  # not a point on the curve
    ch2 = pb.Challenge()
    ch2.CopyFrom(ch)
    ch2.nonce = b"\2" * 32
    assert not signed_by(challenge_text(ch2), sig, key.address)  # a fresh nonce: the old answer is worthless
    st = ResultStatement("1", 0, "g0.w0", "run_unit", "a" * 64, "b" * 64)
    assert not signed_by(st.text(), sig, key.address)
    assert not signed_by(st.text(), b"\0" * 65, key.address) and not signed_by(st.text(), b"x", key.address)
    with pytest.raises(ProtocolError):
        recover_text(st.text(), b"short")
