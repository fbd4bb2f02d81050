"""`stance serve`: a small HTTP API (FastAPI) and a one-page labelling UI over a loaded `Predictor`.

Only `stance serve` imports this module (it needs the `serve` extra: fastapi, uvicorn, httpx); `import stance`
and `import inference` never do.

Endpoints
    POST /predict  {"texts": [...]} or {"article": "..."} (exactly one), optional "threshold" (0..1, default 0)
                   and "context" (texts only: the list is consecutive sentences of one article, so each text's
                   context is the text before it; default false).
                   -> {"records": [...], "model": {"labels": [...], "precision": "..."}}. The records are the ones
                   `stance predict` writes as JSONL: for texts {"text", "label", "score", "probs"}; for an
                   article {"id", "article_id", "index", "text", "label", "score", "probs"}, split by the same
                   sentence splitter, each sentence with the previous one as its context (`with_context`).
    POST /render   the same body -> {"html": <section> of highlighted sentences, "count": n} (the HTML report's
                   view, `inference.report_html.render_fragment`).
    GET  /model    labels, metrics, data_fingerprint, type, precision of the loaded model.
    GET  /healthz  {"status": "ok"}.
    GET  /         the labelling page: self-contained HTML (inline CSS and JS, nothing fetched from elsewhere).
    GET  /docs     OpenAPI docs (FastAPI's).

Decisions
    - A pasted article is the text as published: it has no `key: value` header (a header would be labelled as
      sentences) and its article id is always "pasted", so its sentence ids are "pasted-000", "pasted-001", ...
      Line ends are normalised and leading/trailing blank lines dropped, as `read_article` does for a file.
    - Nothing to label is a client error (422), like `stance predict` with no texts: an empty "texts" list, an
      empty or whitespace-only text (the error names its index: loc ["body", "texts", i]) or an empty or
      whitespace-only article. A non-blank article always has at least one sentence.
    - Text that cannot be text is 422 too: a NUL character, or an unpaired surrogate ("\\ud800" is valid JSON).
    - Limits: a body over `max_body_bytes` (by Content-Length, and by the bytes actually received) and more than
      `max_texts` texts (or article sentences) are 413 {"detail": "..."}. Malformed JSON, a wrong type, an unknown
      field (extra="forbid"), both or neither of texts/article, a threshold outside [0, 1]: 422 with FastAPI's
      `detail` list (type, loc, msg; the input is not echoed back) and a one-line `message` naming the field.
    - Auth: with `api_key` set, POST /predict, POST /render and GET /model need `Authorization: Bearer KEY`
      (401 otherwise). GET /, GET /healthz and the docs stay open: the page holds no data, and the page itself
      asks for the key (input#api-key) and sends it with each request.
    - A failure inside the model is a 500 {"detail": "prediction failed (...)"} for the requests whose sentences
      were in the failing forward pass only; the server keeps serving.
    - Texts are never logged unless `log_texts`: a request logs its size and time only.

Micro-batching: `inference.batching.Batcher` (one forward pass for requests that arrive together).
Hot path: `_Front` answers a valid, authorised POST /predict before FastAPI's routing; anything else goes
to the FastAPI route, so every error response is made there.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from inference.batching import Batcher
from inference.predictor import Prediction
from inference.report_html import render_fragment
from inference.serve_page import PAGE_CSP, page

if TYPE_CHECKING:  # pragma: no cover
    from inference.predictor import Predictor

log = logging.getLogger("stance.serve")

PASTED_ID = "pasted"  # the article id of a pasted article


@dataclass
class ServeOptions:
    max_body_bytes: int = 1_000_000  # larger request bodies -> 413
    max_texts: int = 1000  # more texts (or article sentences) per request -> 413
    max_batch: int = 64  # sentences per forward pass, across concurrent requests
    max_wait_ms: float = 5.0  # how long the batcher waits to fill a batch
    lanes: int | None = None  # batches scored side by side, one thread each; None: what the model suggests
    api_key: str | None = None  # when set: `Authorization: Bearer KEY` on POST /predict, POST /render, GET /model
    log_texts: bool = False  # never log texts by default


def is_loopback(host: str) -> bool:
    """True for a host only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------ requests


def _article_rows(article: str) -> list[dict]:
    """A pasted article's sentences, as `stance predict` reads an article file: id, article_id, index, text."""
    from stance.articles import article_from_text
    from stance.data import article_records

    return [row for _, row in article_records(article_from_text(article, PASTED_ID))]


class _TooLarge(Exception):
    pass


def _bad_text(text: str) -> str | None:
    if not text.strip():
        return "is empty"
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (an unpaired surrogate escape)"
    return None


def _rows_and_contexts(req, options: ServeOptions) -> tuple[list[dict], list[str]]:
    """The request's records (before labelling) and each one's context; raises RequestValidationError (422)
    or _TooLarge (413)."""
    from stance.data import with_context

    def invalid(loc: tuple, msg: str):
        return RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": msg}])

    if req.texts is not None:
        if not req.texts:
            raise invalid(("texts",), "texts is empty: give at least one text")
        if len(req.texts) > options.max_texts:
            raise _TooLarge(f"{len(req.texts)} texts, over the limit of {options.max_texts}")
        for i, text in enumerate(req.texts):
            problem = _bad_text(text)
            if problem:
                raise invalid(("texts", i), f"text {i} {problem}")
        rows = [{"text": t} for t in req.texts]
        contexts = ["", *req.texts[:-1]] if req.context else [""] * len(rows)
        return rows, contexts
    problem = _bad_text(req.article)
    if problem:
        raise invalid(("article",), f"article {problem}")
    if req.context:
        raise invalid(("context",), "context applies to texts; an article's sentences always have their context")
    rows = _article_rows(req.article)
    if len(rows) > options.max_texts:
        raise _TooLarge(f"article of {len(rows)} sentences, over the limit of {options.max_texts}")
    pairs = list(with_context(rows, "text"))
    return [r for r, _ in pairs], [c for _, c in pairs]


def _records(rows: list[dict], preds: list[Prediction], threshold: float) -> list[dict]:
    return [{**row, **p.thresholded(threshold).as_dict()} for row, p in zip(rows, preds, strict=True)]


# ------------------------------------------------------------------------------------------------ middleware


class _Front:
    """ASGI middleware in front of the app. It reads the body, under the limit: over `max_body_bytes` is 413, by
    its Content-Length or by the bytes that actually arrive (chunked uploads, a lying header), reading at most
    limit + one chunk. Then the hot path: an authorised POST /predict with a valid JSON body is answered here,
    without FastAPI's routing, dependency solving and response validation. Anything else, every error
    included, goes on to the app with the body replayed, so each error response is made in one place.

    Why the hot path: under many small requests the lanes wait on the event loop's turnaround (send the
    answers, parse the next requests); it takes about a third of the event loop's time per request that
    FastAPI's route takes (0.15-0.17 ms against 0.52 ms of one core, measured with an instant model;
    docs/benchmarks.md)."""

    def __init__(self, app, service: _Service):
        self.app, self.service = app, service
        self.limit = service.options.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await self._body(scope, receive, send)
        if body is None:  # answered (413) or the client left
            return
        if scope["method"] == "POST" and scope["path"] == "/predict" and await self._fast(scope, body, receive, send):
            return
        await self.app(scope, _replaying(body, receive), send)

    async def _body(self, scope, receive, send) -> bytes | None:
        def too_large():
            return JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)

        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.limit:
                        await too_large()(scope, receive, send)
                        return None
                except ValueError:
                    pass  # the server rejects it; count what arrives
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await too_large()(scope, receive, send)
                return None
        return bytes(body)

    async def _fast(self, scope, body: bytes, receive, send) -> bool:
        """Answer the common POST /predict; False (nothing sent) for anything the app should answer."""
        req = self.service.quick_parse(dict(scope["headers"]), body)
        if req is None:
            return False
        try:
            response = JSONResponse({"records": await self.service.label(req), "model": self.service.model_info})
        except (RequestValidationError, _TooLarge):  # the app makes these answers
            return False
        except HTTPException as exc:  # the model failed: the route's answer, made the same way
            response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        await response(scope, receive, send)
        return True


def _replaying(body: bytes, receive):
    """An ASGI `receive` that gives the already-read `body` once, then defers to `receive` (a disconnect)."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class LabelRequest(BaseModel):
    """Exactly one of `texts` and `article`."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = Field(None, description="Sentences to label, each on its own.")
    article: str | None = Field(None, description="An article's text: split into sentences, then labelled.")
    threshold: float = Field(0.0, ge=0.0, le=1.0, description="Below this top probability: 'uncertain'.")
    context: bool = Field(False, description="texts only: the texts are consecutive sentences of one article.")

    @model_validator(mode="after")
    def _one_input(self):
        if (self.texts is None) == (self.article is None):
            raise ValueError("give exactly one of 'texts' and 'article'")
        return self


# POST /predict and /render read their body themselves (`_parse`), so FastAPI is told its schema here
_LABEL_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": LabelRequest.model_json_schema()}}}
}


def _is_json(content_type: str) -> bool:
    ctype = content_type.split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def _label_request(content_type: str, body: bytes) -> LabelRequest:
    """The body as a LabelRequest, or RequestValidationError with FastAPI's locations ("body", field, ...).

    Why not a `req: LabelRequest` route parameter: FastAPI then decodes the JSON into Python objects, validates
    those, and validates and re-encodes the response through `response_model`; pydantic's own JSON parser and a
    pre-encoded response make the same checks in less of the event loop's time."""
    if not _is_json(content_type):
        msg = f"expected a JSON body (Content-Type: application/json), got {content_type or 'no content type'}"
        raise RequestValidationError([{"type": "json_type", "loc": ("body",), "msg": msg}])
    try:
        return LabelRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


async def _parse(request: Request) -> LabelRequest:
    """The routes' `_label_request`."""
    return _label_request(request.headers.get("content-type", "application/json"), await request.body())


class _Service:
    """What the routes and the fast path share: the key check, parsing, and labelling through the batcher."""

    def __init__(self, predictor: Predictor, options: ServeOptions):
        self.predictor, self.options = predictor, options
        self.batcher = Batcher(
            predictor, options.max_batch, options.max_wait_ms, lanes=options.lanes or predictor.lanes()
        )
        self.model_info = {"labels": list(predictor.labels), "precision": predictor.precision}

    def authorized(self, header: str) -> bool:
        if self.options.api_key is None:
            return True
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.options.api_key.encode())

    def authorize(self, request: Request) -> None:
        if not self.authorized(request.headers.get("authorization", "")):
            raise HTTPException(
                401, "missing or wrong API key (send 'Authorization: Bearer KEY')", {"WWW-Authenticate": "Bearer"}
            )

    def quick_parse(self, headers: dict[bytes, bytes], body: bytes) -> LabelRequest | None:
        """The request when it is authorised and valid JSON of the right shape; None for anything else."""
        if not self.authorized(headers.get(b"authorization", b"").decode("latin-1")):
            return None
        try:
            return _label_request(headers.get(b"content-type", b"application/json").decode("latin-1"), body)
        except RequestValidationError:
            return None

    async def label(self, req: LabelRequest) -> list[dict]:
        """The request's records; RequestValidationError/_TooLarge for a bad request, HTTPException 500 when
        the model fails on a batch holding its sentences."""
        rows, contexts = _rows_and_contexts(req, self.options)
        started = time.perf_counter()
        try:
            preds = await self.batcher.apredict([r["text"] for r in rows], contexts)
        except Exception as exc:
            raise HTTPException(500, f"prediction failed ({type(exc).__name__})") from exc
        records = _records(rows, preds, req.threshold)
        took = (time.perf_counter() - started) * 1000
        if self.options.log_texts:
            log.info("labelled %d sentences in %.0f ms: %s", len(records), took, [r["text"] for r in records])
        else:
            log.info("labelled %d sentences in %.0f ms", len(records), took)
        return records


class LabelResponse(BaseModel):
    records: list[dict[str, Any]]
    model: dict[str, Any]


class RenderResponse(BaseModel):
    html: str
    count: int


class ModelInfo(BaseModel):
    labels: list[str]
    type: str | None
    precision: str
    precision_reason: str
    metrics: dict[str, Any] | None
    data_fingerprint: Any


class Health(BaseModel):
    status: Literal["ok"]


def create_app(predictor: Predictor, options: ServeOptions | None = None) -> FastAPI:
    service = _Service(predictor, options or ServeOptions())

    @asynccontextmanager
    async def lifespan(app):
        yield
        service.batcher.stop()

    app = FastAPI(
        title="stance",
        description="Label each sentence of defence and security reporting: " + ", ".join(predictor.labels) + ".",
        lifespan=lifespan,
    )
    app.state.batcher = service.batcher
    app.state.options = service.options
    app.state.predictor = predictor
    app.add_middleware(_Front, service=service)

    _add_error_handlers(app)
    _add_routes(app, service)
    return app


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    precision: str = "fp32",
    options: ServeOptions | None = None,
) -> None:
    """Load the model (any precision `Predictor.load` takes, "auto" included) and serve it with uvicorn, one
    worker, until interrupted. The caller warns when `host` is not loopback and there is no api_key."""
    import uvicorn

    from inference.predictor import Predictor

    predictor = Predictor.load(model_dir, precision=precision)
    app = create_app(predictor, options or ServeOptions())
    uvicorn.run(app, host=host, port=port, workers=1, log_level="warning")


def _add_error_handlers(app: FastAPI) -> None:
    """422 for anything malformed (with a one-line message naming the field), 413 over the limits, 500 (and a
    log line without the texts) when the model fails."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            if e.get("type") == "json_invalid":
                msg = f"malformed JSON ({(e.get('ctx') or {}).get('error', 'decode error')})"
            errors.append({"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": msg})
        message = "; ".join(
            ("body" if e["type"] == "json_invalid" else ".".join(str(p) for p in e["loc"][1:]) or "body")
            + ": "
            + e["msg"]
            for e in errors
        )
        return JSONResponse({"detail": errors, "message": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and request.method == "POST":  # FastAPI: a body json.loads cannot decode
            msg = "malformed JSON (the body is not UTF-8 text)"
            return JSONResponse(
                {"detail": [{"type": "json_invalid", "loc": ["body"], "msg": msg}], "message": f"body: {msg}"},
                status_code=422,
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(_TooLarge)
    async def _too_large(request: Request, exc: _TooLarge):
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception):
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"detail": f"prediction failed ({type(exc).__name__})"}, status_code=500)


def _add_routes(app: FastAPI, service: _Service) -> None:
    predictor, options = service.predictor, service.options

    async def authorize(request: Request) -> None:  # async: FastAPI runs a plain def in its thread pool
        service.authorize(request)

    @app.post("/predict", response_model=LabelResponse, openapi_extra=_LABEL_BODY)
    async def predict(request: Request):
        """Label texts or an article: the records `stance predict` writes as JSONL."""
        service.authorize(request)
        records = await service.label(await _parse(request))
        return JSONResponse({"records": records, "model": service.model_info})

    @app.post("/render", response_model=RenderResponse, openapi_extra=_LABEL_BODY)
    async def render_view(request: Request):
        """Label texts or an article and return the HTML report's highlighted view of them."""
        service.authorize(request)
        req = await _parse(request)
        records = await service.label(req)
        html = render_fragment(records, list(predictor.labels), req.threshold)
        return JSONResponse({"html": html, "count": len(records)})

    @app.get("/model", response_model=ModelInfo, dependencies=[Depends(authorize)])
    async def model():
        meta = predictor.meta
        return {
            "labels": list(predictor.labels),
            "type": meta.get("type"),
            "precision": predictor.precision,
            "precision_reason": predictor.precision_reason,
            "metrics": meta.get("metrics"),
            "data_fingerprint": meta.get("data_fingerprint"),
        }

    @app.get("/healthz", response_model=Health)
    async def healthz():
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(
            page(predictor.labels, options.api_key is not None), headers={"Content-Security-Policy": PAGE_CSP}
        )
