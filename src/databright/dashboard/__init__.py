"""`databright serve`: a read-only web dashboard of the market, live from the chain and the store.

`Dashboard` (core) holds the market and a `BlobReader` acting as one account; `market_views` and
`compute_views` turn chain state and stored reports into plain dicts; `app.create_app` serves each
dict as JSON under `/api` and as a server-rendered page (Jinja2 templates, inline SVG charts).
"""

from databright.dashboard.app import create_app
from databright.dashboard.blobs import BlobReader
from databright.dashboard.core import Dashboard

__all__ = ["BlobReader", "Dashboard", "create_app"]
