"""The worker agent: what a worker runs. It dials out to a coordinator (it never listens), proves its
identity with its key, and trains what it is sent. It imports only the protocol and the training
arithmetic (`protocol/`, `training/`), nothing of the coordinator (tests/worker/test_imports.py)."""
