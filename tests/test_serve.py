"""`stance serve` (inference/serve.py): every status code of the API, parity with `stance predict`, the page,
and micro-batching under concurrency."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from inference.batching import Batcher
from inference.predictor import Prediction, Predictor  # noqa: E402
from inference.serve import ServeOptions, create_app, is_loopback  # noqa: E402

ARTICLE = """The missile threat is growing, Gen. Smith said on Jan. 5.

NATO allies agreed to buy new air defence. The ministry announced sanctions and funding.
The minister said citizens are safe and calm.
Reporting by the desk editor
"""

TEXTS = [
    "The missile threat is dangerous and growing.",
    "NATO allies will deploy troops.",
    "The minister said there is no panic.",
    "Reporting by the desk editor.",
    "Russia's new drone could reach our cities.",
]


@pytest.fixture(scope="module")
def predictor(tiny_model) -> Predictor:
    return Predictor.load(tiny_model)


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor)) as c:
        yield c


def expected(predictor, texts, contexts=None, threshold=0.0) -> list[dict]:
    contexts = [""] * len(texts) if contexts is None else contexts
    return [
        {"text": t, **p.as_dict()} for t, p in zip(texts, predictor.predict(texts, contexts, threshold), strict=True)
    ]


def same_records(got: list[dict], want: list[dict], tol: float = 2e-4) -> None:
    """Equal records; probabilities within `tol` (a batch of other sentences may move the last digit)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k not in ("score", "probs")} == {
            k: v for k, v in w.items() if k not in ("score", "probs")
        }
        assert g["score"] == pytest.approx(w["score"], abs=tol)
        assert list(g["probs"]) == list(w["probs"])
        for lab in w["probs"]:
            assert g["probs"][lab] == pytest.approx(w["probs"][lab], abs=tol)


# ------------------------------------------------------------------------------------------------ 200s


def test_predict_texts(client, predictor):
    r = client.post("/predict", json={"texts": TEXTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"labels": predictor.labels, "precision": predictor.precision}
    assert [list(rec) for rec in body["records"]] == [["text", "label", "score", "probs"]] * len(TEXTS)
    assert body["records"] == expected(predictor, TEXTS)  # one request, one batch: exactly the same numbers


def test_predict_article_equals_cli(client, tiny_model, tmp_path):
    from typer.testing import CliRunner

    from stance.cli import app

    path = tmp_path / "pasted.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    result = CliRunner().invoke(app, ["predict", str(tiny_model), "--input", str(path), "--format", "jsonl", "--quiet"])
    assert result.exit_code == 0, result.output
    cli = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(cli) >= 5 and cli[0]["id"] == "pasted-000"

    r = client.post("/predict", json={"article": ARTICLE})
    assert r.status_code == 200, r.text
    assert r.json()["records"] == cli
    # CRLF line ends and surrounding blank lines change nothing, as for a file
    r = client.post("/predict", json={"article": "\r\n" + ARTICLE.replace("\n", "\r\n") + "\r\n"})
    assert r.json()["records"] == cli


def context_predictor(tiny_model) -> Predictor:
    """The tiny model fed the previous sentence as a second segment (it was trained without), so that a
    missing or wrong context changes the numbers."""
    p = Predictor.load(tiny_model)
    p.model.context = True
    with_ctx = p.predict(TEXTS, ["", *TEXTS[:-1]])
    without = p.predict(TEXTS, [""] * len(TEXTS))
    assert [x.probs for x in with_ctx] != [x.probs for x in without]  # the test below can tell them apart
    return p


class Spy:
    """A predictor that records the (text, context) pairs of each call."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []
        self.labels, self.meta = inner.labels, inner.meta
        self.precision, self.precision_reason = inner.precision, inner.precision_reason
        self.lanes, self.init_lane = inner.lanes, inner.init_lane

    def predict(self, texts, contexts=None, threshold=0.0, batch_size=64):
        self.calls.append(list(zip(texts, contexts, strict=True)))
        return self.inner.predict(texts, contexts, threshold, batch_size)


def test_texts_with_context(tiny_model):
    p = context_predictor(tiny_model)
    spy = Spy(p)

    def pairs_sent(post):  # the (text, context) pairs the model saw for one request, which lanes may split
        before = len(spy.calls)
        r = post()
        return r, sorted(pair for call in spy.calls[before:] for pair in call)

    with TestClient(create_app(spy)) as c:
        r, sent = pairs_sent(lambda: c.post("/predict", json={"texts": TEXTS, "context": True}))
        assert r.status_code == 200, r.text
        assert r.json()["records"] == expected(p, TEXTS, ["", *TEXTS[:-1]])
        assert sent == sorted(zip(TEXTS, ["", *TEXTS[:-1]], strict=True))

        r, sent = pairs_sent(lambda: c.post("/predict", json={"texts": TEXTS}))  # context false: each text alone
        assert r.json()["records"] == expected(p, TEXTS)
        assert sent == sorted((t, "") for t in TEXTS)

        # an article: each sentence after the one before it
        r, sent = pairs_sent(lambda: c.post("/predict", json={"article": ARTICLE}))
        records = r.json()["records"]
        texts = [rec["text"] for rec in records]
        assert sent == sorted(zip(texts, ["", *texts[:-1]], strict=True))
        same_records(
            [{k: rec[k] for k in ("text", "label", "score", "probs")} for rec in records],
            expected(p, texts, ["", *texts[:-1]]),
            tol=0,
        )


def test_threshold_makes_uncertain(client, predictor):
    scores = sorted({round(p.score, 4) for p in predictor.predict(TEXTS, [""] * len(TEXTS))})
    assert len(scores) >= 2
    threshold = (scores[0] + scores[-1]) / 2
    r = client.post("/predict", json={"texts": TEXTS, "threshold": threshold})
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    assert records == expected(predictor, TEXTS, threshold=threshold)  # Predictor.predict's rule
    labels = [rec["label"] for rec in records]
    assert "uncertain" in labels and set(labels) - {"uncertain"}
    assert all((rec["label"] == "uncertain") == (rec["score"] < threshold) for rec in records)
    r = client.post("/predict", json={"texts": TEXTS, "threshold": 1})
    assert {rec["label"] for rec in r.json()["records"]} == {"uncertain"}


# ------------------------------------------------------------------------------------------------ auth


def test_api_key(predictor):
    with TestClient(create_app(predictor, ServeOptions(api_key="s3cret"))) as c:
        body = {"texts": TEXTS[:2]}
        for method, url, kwargs in [("post", "/predict", {"json": body}), ("post", "/render", {"json": body})] + [
            ("get", "/model", {})
        ]:
            send = getattr(c, method)
            r = send(url, **kwargs)
            assert r.status_code == 401 and "API key" in r.json()["detail"], (url, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            for wrong in ("Bearer nope", "Bearer s3cret2", "s3cret", "Basic s3cret", "Bearer "):
                assert send(url, headers={"Authorization": wrong}, **kwargs).status_code == 401, (url, wrong)
            assert send(url, headers={"Authorization": "Bearer s3cret"}, **kwargs).status_code == 200, url
        assert c.get("/healthz").status_code == 200  # open: liveness probes carry no key
        page = c.get("/")
        assert page.status_code == 200 and 'id="api-key"' in page.text  # the page asks for the key
    with TestClient(create_app(predictor)) as c:
        assert 'id="api-key"' not in c.get("/").text


# ------------------------------------------------------------------------------------------------ 413


def test_body_too_large(predictor):
    with TestClient(create_app(predictor, ServeOptions(max_body_bytes=200))) as c:
        small = {"texts": ["NATO allies will deploy troops."]}
        assert c.post("/predict", json=small).status_code == 200
        big = {"texts": ["x" * 300]}
        r = c.post("/predict", json=big)
        assert r.status_code == 413 and r.json() == {"detail": "request body over 200 bytes"}
        # no Content-Length (chunked): the bytes that arrive are counted
        raw = json.dumps(big).encode()

        def chunks():
            for i in range(0, len(raw), 50):
                yield raw[i : i + 50]

        r = c.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json() == {"detail": "request body over 200 bytes"}
        raw_small = json.dumps(small).encode()
        r = c.post(
            "/predict", content=iter([raw_small[:10], raw_small[10:]]), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 200, r.text


def test_too_many_texts(predictor):
    with TestClient(create_app(predictor, ServeOptions(max_texts=3))) as c:
        assert c.post("/predict", json={"texts": TEXTS[:3]}).status_code == 200
        r = c.post("/predict", json={"texts": TEXTS[:4]})
        assert r.status_code == 413 and "4 texts" in r.json()["detail"]
        r = c.post("/render", json={"texts": TEXTS[:4]})
        assert r.status_code == 413
        r = c.post("/predict", json={"article": ARTICLE})  # over 3 sentences
        assert r.status_code == 413 and "sentences" in r.json()["detail"]


# ------------------------------------------------------------------------------------------------ 422


@pytest.mark.parametrize(
    "body, loc, words",
    [
        ({"texts": ["a"], "lang": "en"}, ["body", "lang"], ["lang", "Extra inputs"]),
        ({"texts": ["a"], "article": "b"}, ["body"], ["exactly one of 'texts' and 'article'"]),
        ({}, ["body"], ["exactly one of 'texts' and 'article'"]),
        ({"threshold": 0.5}, ["body"], ["exactly one"]),
        ({"texts": []}, ["body", "texts"], ["texts is empty"]),
        ({"texts": ["fine", "also fine", "  \n"]}, ["body", "texts", 2], ["text 2 is empty"]),
        ({"texts": ["fine", ""]}, ["body", "texts", 1], ["text 1 is empty"]),
        ({"texts": ["a\x00b"]}, ["body", "texts", 0], ["NUL"]),
        ({"article": "  \n\t "}, ["body", "article"], ["article is empty"]),
        ({"texts": "one string"}, ["body", "texts"], ["array"]),  # JSON words: an array, not a list
        ({"texts": ["a", 3]}, ["body", "texts", 1], ["string"]),
        ({"texts": ["a"], "threshold": 1.5}, ["body", "threshold"], ["less than or equal to 1"]),
        ({"texts": ["a"], "threshold": -0.1}, ["body", "threshold"], ["greater than or equal to 0"]),
        ({"texts": ["a"], "threshold": "high"}, ["body", "threshold"], ["number"]),
        ({"article": "A sentence.", "context": True}, ["body", "context"], ["context applies to texts"]),
    ],
)
def test_invalid_bodies(client, body, loc, words):
    r = client.post("/predict", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(e["loc"] == loc for e in detail), detail
    for word in words:
        assert word in r.json()["message"], r.json()
    assert "input" not in detail[0]  # the body is not echoed back


@pytest.mark.parametrize(
    "raw, ctype",
    [
        (b"{not json", "application/json"),
        (b'{"texts": ["a"]', "application/json"),
        (b"", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"texts=a", "application/x-www-form-urlencoded"),
        (b'{"texts": ["\\ud800"]}', "application/json"),  # valid JSON, but no text: 422, not a 500 on output
        (b"\xff\xfe{", "application/json"),
    ],
)
def test_bad_json(client, raw, ctype):
    r = client.post("/predict", content=raw, headers={"Content-Type": ctype})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] and r.json()["message"]


# ------------------------------------------------------------------------------------------------ GETs


def test_healthz_and_model(client, tiny_model, predictor):
    assert client.get("/healthz").json() == {"status": "ok"}
    meta = json.loads((tiny_model / "stance.json").read_text(encoding="utf-8"))
    info = client.get("/model").json()
    assert info["labels"] == meta["labels"] == predictor.labels
    assert info["data_fingerprint"] == meta["data_fingerprint"] and info["data_fingerprint"]
    assert info["metrics"] == meta["metrics"]
    assert info["type"] == meta["type"]
    assert info["precision"] == "fp32"
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/predict", "/render", "/model", "/healthz"}
    assert client.get("/docs").status_code == 200


def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for element in ('<textarea id="text"', '<button id="label"', '<div id="result"'):
        assert element in page
    assert "fetch(" in page and "render" in page
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|\b(src|href)\s*=", page, re.I), (
        "external resource"
    )
    assert "default-src 'none'" in r.headers["content-security-policy"]


# ------------------------------------------------------------------------------------------------ /render


def test_render(client, predictor):
    texts = [*TEXTS, "The army <script>alert(1)</script> & plan new exercises."]
    r = client.post("/render", json={"texts": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(texts)
    assert len(re.findall(r'<span[^>]*\bdata-label="', body["html"])) == len(texts)
    assert "<script>" not in body["html"] and "&lt;script&gt;" in body["html"]
    labels = re.findall(r'data-label="([^"]+)"', body["html"])
    assert labels == [p.label for p in predictor.predict(texts, [""] * len(texts))]

    r = client.post("/render", json={"article": ARTICLE, "threshold": 1.0})
    n = len(client.post("/predict", json={"article": ARTICLE}).json()["records"])
    assert r.json()["count"] == n
    assert re.findall(r'data-label="([^"]+)"', r.json()["html"]) == ["uncertain"] * n


def test_render_matches_report_module(client):
    from inference import report_html

    records = client.post("/predict", json={"texts": TEXTS, "threshold": 0.5}).json()["records"]
    html = client.post("/render", json={"texts": TEXTS, "threshold": 0.5}).json()["html"]
    assert html == report_html.render_fragment(records, client.get("/model").json()["labels"], threshold=0.5)


# ------------------------------------------------------------------------------------------------ batching


def test_concurrent_requests_are_batched_and_correct(predictor):
    app = create_app(predictor, ServeOptions(max_batch=64, max_wait_ms=30))
    # 160 requests of 1-7 distinct texts each, some with a threshold
    requests = []
    for n in range(160):
        k = 1 + n % 7
        texts = [f"{TEXTS[(n + i) % len(TEXTS)][:-1]} ({n}.{i})." for i in range(k)]
        requests.append((texts, 0.6 if n % 3 == 0 else 0.0))
    want = {n: expected(predictor, texts, threshold=thr) for n, (texts, thr) in enumerate(requests)}

    with TestClient(app) as c:

        def worker(w: int) -> list[tuple[int, list[dict]]]:
            out = []
            for n in range(w * 5, w * 5 + 5):
                texts, thr = requests[n]
                r = c.post("/predict", json={"texts": texts, "threshold": thr})
                assert r.status_code == 200, r.text
                out.append((n, r.json()["records"]))
            return out

        with ThreadPoolExecutor(32) as pool:
            results = [item for chunk in pool.map(worker, range(32)) for item in chunk]

    assert len(results) == 160
    for n, records in results:
        assert [r["text"] for r in records] == requests[n][0]  # each request gets its own sentences, in order
        same_records(records, want[n])
    batcher = app.state.batcher
    assert batcher.sentences == sum(len(t) for t, _ in requests)
    assert batcher.calls < 160, batcher.calls  # requests shared forward passes
    assert batcher.max_seen <= 64


class Slow:
    """A fake predictor: label = "long"/"short" by text length; the first call waits for `release`; texts
    holding BOOM make the call fail."""

    labels = ["short", "long"]
    meta = {"labels": labels, "type": "fake"}
    precision, precision_reason = "fp32", ""

    def __init__(self):
        self.release = threading.Event()
        self.batches: list[list[str]] = []

    def lanes(self):
        return 1

    def predict(self, texts, contexts=None, threshold=0.0, batch_size=64):
        self.batches.append(list(texts))
        if len(self.batches) == 1:
            assert self.release.wait(10)
        if any("BOOM" in t for t in texts):
            raise RuntimeError("model blew up")
        out = []
        for t in texts:
            score = min(0.99, 0.5 + len(t) / 100)
            label = "long" if len(t) > 10 else "short"
            other = "short" if label == "long" else "long"
            out.append(Prediction(t, label, score, {label: score, other: 1 - score}))
        return out


def test_batcher_splits_and_gathers():
    fake = Slow()
    b = Batcher(fake, max_batch=4, max_wait_ms=1)
    first = b.submit(["warm up"])
    time.sleep(0.05)  # the worker is now inside the first call, waiting for `release`
    jobs = [[f"job {j} text {i}" + "x" * j for i in range(j + 1)] for j in range(6)]  # 1..6 texts, 21 in all
    futures = [b.submit(texts) for texts in jobs]
    fake.release.set()
    assert [p.text for p in first.result(5)] == ["warm up"]
    for texts, fut in zip(jobs, futures, strict=True):
        assert [p.text for p in fut.result(5)] == texts
    assert all(len(batch) <= 4 for batch in fake.batches)
    assert b.calls == len(fake.batches) == 1 + 6  # 21 queued sentences in full batches of 4: 6 passes
    assert [t for batch in fake.batches[1:] for t in batch] == [t for texts in jobs for t in texts]  # in order
    assert b.submit([]).result(1) == []
    b.stop()
    assert [p.text for p in b.predict(["after a stop"])] == ["after a stop"]  # a new worker
    b.stop()


class TwoLanes:
    """A fake predictor for lanes: records (thread, texts) per call; calls wait for `release`."""

    labels = ["a", "b"]

    def __init__(self):
        self.release = threading.Event()
        self.calls: list[tuple[str, list[str]]] = []
        self.lane_threads: list[str] = []

    def init_lane(self):
        self.lane_threads.append(threading.current_thread().name)

    def predict(self, texts, contexts=None, threshold=0.0, batch_size=64):
        self.calls.append((threading.current_thread().name, list(texts)))
        assert self.release.wait(10)
        return [Prediction(t, "a", 0.9, {"a": 0.9, "b": 0.1}) for t in texts]


def test_two_lanes_share_waiting_requests_between_them():
    """16 one-sentence requests arriving together, both lanes idle: two batches of 8 on two threads, side by
    side (the second starts while the first is still running), each lane set up once in its own thread."""
    fake = TwoLanes()
    b = Batcher(fake, max_batch=64, max_wait_ms=100, lanes=2)
    futures = [b.submit([f"sentence {i}"]) for i in range(16)]
    deadline = time.time() + 10
    while len(fake.calls) < 2 and time.time() < deadline:
        time.sleep(0.01)
    assert sorted(len(texts) for _, texts in fake.calls) == [8, 8]  # both running before either finished
    assert len({thread for thread, _ in fake.calls}) == 2
    assert sorted(fake.lane_threads) == ["stance-lane-0", "stance-lane-1"]
    fake.release.set()
    assert [f.result(5)[0].text for f in futures] == [f"sentence {i}" for i in range(16)]
    assert sorted(t for _, texts in fake.calls for t in texts) == sorted(f"sentence {i}" for i in range(16))
    b.stop()


def test_one_lane_takes_everything_waiting():
    fake = TwoLanes()
    fake.release.set()
    b = Batcher(fake, max_batch=64, max_wait_ms=100, lanes=1)
    futures = [b.submit([f"s{i}"]) for i in range(16)]
    assert all(f.result(5) for f in futures)
    assert [len(texts) for _, texts in fake.calls] == [16] and fake.lane_threads == []
    b.stop()


def test_max_wait_is_a_ceiling_a_lone_request_does_not_wait():
    """Before any batch a lane waits up to max_wait_ms for company; once recent batches were single sentences,
    a lone request starts at once (waiting would only add latency)."""
    fake = TwoLanes()
    fake.release.set()
    b = Batcher(fake, max_batch=64, max_wait_ms=500, lanes=1)
    start = time.monotonic()
    b.predict(["first"])
    first = time.monotonic() - start
    start = time.monotonic()
    for i in range(3):
        b.predict([f"lone {i}"])
    lone = (time.monotonic() - start) / 3
    assert first >= 0.45 and lone < 0.2, (first, lone)
    b.stop()


def test_valid_predict_takes_the_fast_path(client, predictor, monkeypatch):
    """A valid POST /predict is answered before FastAPI's routing (the same records); a bad one still goes to
    the route, which makes the error."""
    import inference.serve as serve_module

    calls = []
    parse = serve_module._parse

    async def counting(request):
        calls.append(request.url.path)
        return await parse(request)

    monkeypatch.setattr(serve_module, "_parse", counting)
    r = client.post("/predict", json={"texts": TEXTS})
    assert r.status_code == 200 and r.json()["records"] == expected(predictor, TEXTS) and calls == []
    r = client.post("/predict", json={"texts": []})
    assert r.status_code == 422 and calls == ["/predict"]
    assert client.post("/render", json={"texts": TEXTS}).status_code == 200 and calls[-1] == "/render"


def test_model_failure_is_500_for_its_requests_only():
    fake = Slow()
    fake.release.set()
    with TestClient(create_app(fake, ServeOptions(max_wait_ms=0)), raise_server_exceptions=False) as c:
        r = c.post("/predict", json={"texts": ["fine", "BOOM here"]})
        assert r.status_code == 500 and r.json() == {"detail": "prediction failed (RuntimeError)"}
        r = c.post("/predict", json={"texts": ["fine", "a longer text"], "threshold": 0.6})  # the server goes on
        assert r.status_code == 200, r.text
        assert [(x["label"], x["score"]) for x in r.json()["records"]] == [("uncertain", 0.54), ("long", 0.63)]
        assert c.post("/render", json={"texts": ["BOOM"]}).status_code == 500
        assert c.get("/healthz").status_code == 200


def test_failure_reaches_only_the_batch_it_was_in():
    fake = Slow()
    b = Batcher(fake, max_batch=2, max_wait_ms=1)
    first = b.submit(["warm up"])
    time.sleep(0.05)
    bad = b.submit(["a", "BOOM"])  # one batch of its own (max_batch 2)
    good = b.submit(["b", "c"])
    fake.release.set()
    assert first.result(5)[0].text == "warm up"
    with pytest.raises(RuntimeError, match="blew up"):
        bad.result(5)
    assert [p.text for p in good.result(5)] == ["b", "c"]
    b.stop()


def test_log_texts_off_by_default(predictor, caplog):
    secret = "The classified missile threat is growing."
    with caplog.at_level("INFO", logger="stance.serve"):
        with TestClient(create_app(predictor)) as c:
            assert c.post("/predict", json={"texts": [secret]}).status_code == 200
        assert "labelled 1 sentences" in caplog.text and secret not in caplog.text
        with TestClient(create_app(predictor, ServeOptions(log_texts=True))) as c:
            assert c.post("/predict", json={"texts": [secret]}).status_code == 200
        assert secret in caplog.text


# ------------------------------------------------------------------------------------------------ serve()


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_serve_runs_uvicorn_on_one_worker(tiny_model, monkeypatch):
    import uvicorn

    from inference import serve as serve_module

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    serve_module.serve(tiny_model, port=8123, options=ServeOptions(api_key="k"))
    ((app, kw),) = calls
    assert kw == {"host": "127.0.0.1", "port": 8123, "workers": 1, "log_level": "warning"}
    assert app.state.options.api_key == "k"
    assert app.state.predictor.labels == json.loads((tiny_model / "stance.json").read_text(encoding="utf-8"))["labels"]


def test_importing_the_packages_does_not_import_serve():
    import subprocess

    code = "import stance, inference, sys; assert 'inference.serve' not in sys.modules and 'fastapi' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
