"""The store relay: a visitor's signed read goes to the store and the store's answer comes back as it is.

Why a relay rather than the browser calling the store itself: the store may listen where only the
dashboard's machine reaches it (127.0.0.1, a private network), and a direct call would need the
store to answer cross-origin requests (CORS) for every page that might embed it. Relaying keeps the
store untouched and the page same-origin, and costs the dashboard nothing it may not do:

* it never signs: the browser signs the store's EIP-191 read request (`databright.store.auth`)
  with the visitor's wallet (`personal_sign`) and sends the four `X-DataBright-*` headers here;
  they are forwarded as they are, with no other header of the visitor's;
* the store's own on-chain access check decides: its status, its JSON refusal or the blob's bytes
  come back verbatim (streamed, not held), so an account without a right sees the store's
  refusal and nothing else, and the dashboard neither parses nor caches what it relays;
* the signed text binds the path `/blobs/<cid>` and the CID, so the relay can only fetch the blob
  the visitor signed for; the CID is checked here first so that no other path is ever requested.
"""

from __future__ import annotations

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from databright.cid import cid_from_digest, digest_from_cid
from databright.errors import CidError
from databright.store.auth import HEADERS

PASSED_BACK = ("content-type", "content-length", "x-databright-cid")  # of the store's answer
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


async def relay_read(store_url: str | None, cid: str, request: Request) -> Response:
    """GET `store_url`/blobs/`cid` with the visitor's signature headers; the store's answer verbatim."""
    if store_url is None:
        return JSONResponse({"error": "no store", "reason": "this dashboard was started without a store"},
                            status_code=503)
    try:
        name = cid_from_digest(digest_from_cid(cid))
    except CidError as exc:
        return JSONResponse({"error": "bad cid", "reason": str(exc)}, status_code=400)
    headers = {h: request.headers[h] for h in HEADERS if h in request.headers}
    client = httpx.AsyncClient(timeout=TIMEOUT, trust_env=False)  # no proxy from the environment
    try:
        answer = await client.send(client.build_request("GET", f"{store_url.rstrip('/')}/blobs/{name}",
                                                        headers=headers), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        return JSONResponse({"error": "store unreachable",
                             "reason": f"the store at {store_url} did not answer: {exc}"}, status_code=502)

    async def close() -> None:
        await answer.aclose()
        await client.aclose()

    kept = {k: answer.headers[k] for k in PASSED_BACK if k in answer.headers}
    return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=kept,
                             background=BackgroundTask(close))
