"""The store's HTTP server: signed uploads (`uploads`), reads by on-chain rights (`access`), the app (`app`).

It uses the library (`databright.store.lib`) and the signed-request format (`databright.store.auth`);
nothing in the library or the client imports it.
"""

from databright.store.server.app import (
    DEFAULT_MAX_UPLOAD_BYTES,
    ServerThread,
    create_app,
    open_store,
    run_server,
    serve,
    sweep_periodically,
)

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "ServerThread", "create_app", "open_store", "run_server", "serve",
           "sweep_periodically"]
