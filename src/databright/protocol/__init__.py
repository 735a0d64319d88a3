"""The worker protocol, shared by the coordinator (`compute/`) and the worker agent (`worker/`).

It imports nothing of either: the `.proto` and its generated messages, the tensor codec (raw bytes,
dtype from an allow-list, exact shape and length, finite values), the safetensors form of a training
state, and the EIP-191 statements both sides sign (the handshake's challenge, every result).
"""
