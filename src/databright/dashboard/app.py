"""The FastAPI app: every page server-rendered from the same dict its `/api/...` twin returns.

Routes: `/` (overview), `/requests/{ref}`, `/proposals/{id}`, `/jobs/{id}`, `/workers`, each with a
JSON twin under `/api` (`/api/overview`, `/api/requests/{ref}`, ...), plus `/api/head` (the chain's
latest block), which a few lines of script in every page poll: when the block moves, the page
fetches itself again and swaps its `<main>` in place, so it follows new chain events without a
reload or a socket. Paths are taken as text and parsed by the dashboard, so a malformed id is a
400 with a sentence, not a framework's validation dump.

Wallets: every page also loads `static/wallet.js` (built from `web/` by `make setup`), which acts
with the visitor's own browser wallet. For it the API adds `/api/market` (chain id and addresses),
`/api/abi/{name}` (the compiled ABIs), `/api/accounts/{address}` (one account's standing, read from
the chain) and `/api/store/blobs/{cid}` (the visitor's signed store read, relayed verbatim, see
`relay`). Every route is a GET and none signs: the server holds no key of any visitor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException
from web3.exceptions import Web3Exception

from databright.dashboard import compute_views, market_views, wallet_views
from databright.dashboard.core import Dashboard
from databright.dashboard.errors import NotFound
from databright.dashboard.filters import install
from databright.dashboard.relay import relay_read
from databright.errors import ChainError, CidError, ConfigError, ContractRevert, DataBrightError

HERE = Path(__file__).parent
WALLET_BUNDLE = HERE / "static" / "wallet.js"
MISSING_BUNDLE = (f"the wallet code is not built ({WALLET_BUNDLE} is missing): run `make setup`, which bundles "
                  "web/src with esbuild")
View = Callable[..., dict[str, Any]]


def status_of(exc: DataBrightError) -> int:
    """The HTTP status for an error family: the visitor's mistake, a missing thing, or the chain."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, ConfigError | CidError):
        return 400
    if isinstance(exc, ChainError) and not isinstance(exc, ContractRevert):
        return 503  # the node is down or unreachable: try again later
    return 500


def templates() -> Jinja2Templates:
    """The pages' templates with the dashboard's filters and chart helpers installed."""
    found = Jinja2Templates(directory=HERE / "templates")
    install(found.env)
    return found


def create_app(dashboard: Dashboard) -> FastAPI:
    app = FastAPI(title="DataBright dashboard", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    pages = templates()
    wallet_market = wallet_views.market(dashboard)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def read(view: View, *args: str) -> dict[str, Any]:
        with dashboard.lock:
            try:
                return view(dashboard, *args)
            except ContractRevert:
                raise
            except (ChainError, Web3Exception, OSError) as exc:  # contract calls, or web3's own (blocks, logs)
                raise ChainError(f"the chain at {dashboard.market.chain.rpc} did not answer: {exc}") from exc

    def page(request: Request, template: str, view: dict[str, Any], status: int = 200) -> HTMLResponse:
        context = {"v": view, "reader": dashboard.blobs.account or dashboard.market.account,
                   "wallet_bundle": WALLET_BUNDLE.exists(), "missing_bundle": MISSING_BUNDLE,
                   "market_json": Markup(json.dumps(wallet_market).replace("<", "\\u003c")),  # noqa: S704 JSON with "<" escaped
                   "chain_id": dashboard.market.deployment.chain_id, "poll_ms": int(dashboard.poll_seconds * 1000),
                   "api": "/api" + (request.url.path if request.url.path != "/" else "/overview")}
        return pages.TemplateResponse(request, template, context, status_code=status)

    @app.exception_handler(DataBrightError)
    def _refused(request: Request, exc: DataBrightError) -> Response:
        return _error(request, status_of(exc), str(exc))

    @app.exception_handler(HTTPException)
    def _http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, "no such page" if exc.status_code == 404 else str(exc.detail))

    def _error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        view = {"status": status, "message": message, "block": None}
        return page(request, "error.html", view, status)

    @app.get("/api/head")
    def api_head() -> dict[str, Any]:
        return read(lambda d: d.head())

    @app.get("/api/overview")
    def api_overview() -> dict[str, Any]:
        return read(market_views.overview)

    @app.get("/api/requests/{ref}")
    def api_request(ref: str) -> dict[str, Any]:
        return read(market_views.request, ref)

    @app.get("/api/proposals/{ref}")
    def api_proposal(ref: str) -> dict[str, Any]:
        return read(market_views.proposal, ref)

    @app.get("/api/jobs/{ref}")
    def api_job(ref: str) -> dict[str, Any]:
        return read(compute_views.job, ref)

    @app.get("/api/workers")
    def api_workers() -> dict[str, Any]:
        return read(compute_views.workers)

    @app.get("/api/market")
    def api_market() -> dict[str, Any]:
        return wallet_market

    @app.get("/api/abi/{name}")
    def api_abi(name: str) -> dict[str, Any]:
        return wallet_views.abi(dashboard, name)

    @app.get("/api/accounts/{ref}")
    def api_account(ref: str) -> dict[str, Any]:
        return read(wallet_views.account, ref)

    @app.get("/api/store/blobs/{cid}")
    async def api_store_read(cid: str, request: Request) -> Response:
        return await relay_read(dashboard.store_url, cid, request)

    @app.get("/", response_class=HTMLResponse)
    def overview_page(request: Request) -> HTMLResponse:
        return page(request, "overview.html", read(market_views.overview))

    @app.get("/requests/{ref}", response_class=HTMLResponse)
    def request_page(request: Request, ref: str) -> HTMLResponse:
        return page(request, "request.html", read(market_views.request, ref))

    @app.get("/proposals/{ref}", response_class=HTMLResponse)
    def proposal_page(request: Request, ref: str) -> HTMLResponse:
        return page(request, "proposal.html", read(market_views.proposal, ref))

    @app.get("/jobs/{ref}", response_class=HTMLResponse)
    def job_page(request: Request, ref: str) -> HTMLResponse:
        return page(request, "job.html", read(compute_views.job, ref))

    @app.get("/workers", response_class=HTMLResponse)
    def workers_page(request: Request) -> HTMLResponse:
        return page(request, "workers.html", read(compute_views.workers))

    return app
