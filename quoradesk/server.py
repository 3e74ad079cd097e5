"""A small local HTTP JSON API over a project's Ask service (FastAPI, served by uvicorn).

    quoradesk serve --db project.sqlite                 # http://127.0.0.1:8765
    curl -s localhost:8765/health
    curl -s localhost:8765/ask -H 'content-type: application/json' \\
         -d '{"text": "How do I learn Python fast?", "top": 5}'

- ``GET /health``: 200 ``{"status": "ready", "questions": N, ...}`` once the models and the
  index are loaded; before that 503 ``{"status": "loading"}``, and 500 ``{"status": "failed",
  "error": ...}`` for a project that cannot be opened.
- ``POST /ask``: ``{"text": str, "top": 1-100 (10), "add": bool (false)}`` -> the
  ``AskResult.to_dict()`` of ``core.ask``. Sent while the models load, it waits for them (up
  to ``LOAD_WAIT`` seconds) and then answers; 503 only past that wait. 400 for a text that
  cannot be a question (empty, too long, binary), 413 past ``MAX_BODY`` bytes, 422 for
  malformed JSON or fields, 401 without the token when one is set. Every 503 carries
  Retry-After.

It binds to 127.0.0.1 unless told otherwise; the CLI refuses another address without a token,
which clients then send as ``Authorization: Bearer TOKEN``. Every call to the service runs on
one worker thread, which opened the project (a SQLite connection stays in its thread).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (Request, AskRequest), which are local to make_app, as objects.
import asyncio
import hmac
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

MAX_BODY = 64 * 1024  # bytes of a request body: a question is at most 5,000 characters
LOAD_WAIT = 60.0  # seconds a POST /ask sent during loading waits for the models
RETRY_AFTER = "2"  # seconds, on every 503: loading the sample's models takes about 6 s


class BodyLimit:
    """ASGI middleware: a request whose body passes ``limit`` bytes gets 413, whether it
    announces its length or streams it in chunks."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _too_large(send, self.limit)
        # Read the body here, up to the limit, and hand it on whole: the app never sees more.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await _too_large(send, self.limit)
            more = message.get("more_body", False)
        whole = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay():
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)


async def _too_large(send, limit: int) -> None:
    body = f'{{"detail": "request body over {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def make_app(db: str | Path, *, token: str | None = None, service_options: dict | None = None):
    """The FastAPI app for project ``db``; the Ask service loads in the background at start."""
    import threading

    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

    from .core.ask import AskError, AskService
    from .core.store import Store

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ask")  # one SQLite thread
    state: dict = {"status": "loading", "error": None, "service": None, "store": None}
    settled = threading.Event()  # set once loading ended, ready or failed

    def open_service() -> None:
        started = time.perf_counter()
        try:
            state["store"] = Store(db, create=False)
            state["service"] = AskService(state["store"], **(service_options or {}))
            state["open_seconds"] = round(time.perf_counter() - started, 3)
            state["status"] = "ready"
        except Exception as exc:  # reported by /health and every /ask
            state["status"], state["error"] = "failed", str(exc) or type(exc).__name__
        finally:
            settled.set()

    def close_service() -> None:
        if state["store"] is not None:
            state["store"].close()

    @asynccontextmanager
    async def lifespan(_app):
        loading = asyncio.get_running_loop().run_in_executor(executor, open_service)
        yield
        await loading
        await asyncio.get_running_loop().run_in_executor(executor, close_service)
        executor.shutdown()

    app = FastAPI(title="QuoraDesk", summary="Has this question been asked before?", lifespan=lifespan)

    def authorised(request: Request) -> None:
        if token is None:
            return
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "send the token as 'Authorization: Bearer TOKEN'")

    class AskRequest(BaseModel):
        text: str = Field(description="the new question")
        top: int = Field(10, ge=1, le=100)
        add: bool = Field(False, description="also add the question to the project")

    @app.get("/health", dependencies=[Depends(authorised)])
    def health():
        service = state["service"]
        out = {"status": state["status"], "project": str(db)}
        if state["error"]:
            out["error"] = state["error"]
        if service is not None:
            out.update(questions=len(service.ids), open_seconds=state["open_seconds"],
                       model=str(service.sparse_model), reranked=service.reranker is not None)
        if state["status"] == "loading":  # not ready: a client waiting on /health waits on this
            return JSONResponse(out, status_code=503, headers={"Retry-After": RETRY_AFTER})
        return JSONResponse(out, status_code=500 if state["status"] == "failed" else 200)

    @app.post("/ask", dependencies=[Depends(authorised)])
    async def ask(body: AskRequest) -> dict:
        if not settled.is_set():  # wait for the models rather than fail the first question
            await asyncio.get_running_loop().run_in_executor(None, settled.wait, LOAD_WAIT)
        if state["status"] == "loading":
            raise HTTPException(503, f"the models are still loading after {LOAD_WAIT:.0f} s; try again",
                                headers={"Retry-After": RETRY_AFTER})
        if state["status"] == "failed":
            raise HTTPException(500, f"the project could not be opened: {state['error']}")
        service: AskService = state["service"]

        def run() -> dict:
            result = service.ask(body.text, top=body.top)
            if body.add:
                result.added_id = service.add(body.text)
            return result.to_dict()

        try:
            return await asyncio.get_running_loop().run_in_executor(executor, run)
        except AskError as exc:
            raise HTTPException(400, str(exc)) from exc

    return BodyLimit(app)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(db: str | Path, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
          service_options: dict | None = None) -> None:
    """Serve until interrupted. Any address but loopback needs a token (ValueError)."""
    import uvicorn

    if not is_loopback(host) and not token:
        raise ValueError(f"listening on {host} lets other machines in: give --token TOKEN (or set "
                         "QUORADESK_TOKEN); clients send it as 'Authorization: Bearer TOKEN'")
    from .core.store import Store

    Store(db, create=False).close()  # a missing or foreign project is refused before listening
    uvicorn.run(make_app(db, token=token, service_options=service_options), host=host, port=port,
                log_level="info")
