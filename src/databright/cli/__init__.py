"""The `databright` command line."""
