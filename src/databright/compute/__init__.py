"""The computation market's coordinator side: the gateway untrusted workers dial, the runner and its
execution strategies, verification and evidence, and the service that accepts, trains and settles jobs.
What both sides compute is in `databright.training`; the worker's agent in `databright.worker`."""
