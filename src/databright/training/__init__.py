"""What the coordinator and a worker both compute, so both must compute it the same way: the job
spec, the model zoo, a replica's deterministic steps and state hashing, and the stages of a split
model. It imports nothing of the coordinator (`compute/`) or the worker agent (`worker/`); its state
format is the protocol's (safetensors, `protocol/state.py`).
"""
