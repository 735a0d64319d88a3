"""The chain: compiling and deploying the contracts, typed wrappers, the local node."""
