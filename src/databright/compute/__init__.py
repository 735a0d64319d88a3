"""The computation market off-chain: job specs, the model zoo, deterministic training on Ray
workers, and the coordinator that schedules, verifies and settles jobs."""
