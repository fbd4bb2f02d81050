"""Micro-batching for `stance serve`: requests that arrive together share one forward pass.

One worker thread owns the model. A request's sentences go on a `queue.Queue` in segments of at most
`max_batch`; the worker takes the first waiting segment, then keeps taking segments for up to `max_wait_ms`
or until `max_batch` sentences are gathered (a segment larger than the room left is split, its rest goes first
into the next batch), runs ONE `predictor.predict(texts, contexts, threshold=0)` over them, and writes each
prediction into its request's result slots. When a request's last slot is filled its `Future` is resolved; the
request (awaiting it on the event loop, never blocking it) then applies its own threshold (the label becomes
"uncertain" when the score is below it: Predictor.predict's rule). Thread safety: the queue and the futures are
the only objects shared between threads, and both are thread-safe; result slots and counters are written by
the worker thread alone, and read by a request only after its future resolved (which orders the writes before
the read). Futures are marked running when submitted, so a request cancelled by a disconnecting client cannot
make the worker's set_result fail.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference.predictor import Prediction

log = logging.getLogger("stance.serve")


class _Job:
    """One request's sentences; `results` and `remaining` are touched by the worker thread only."""

    __slots__ = ("texts", "contexts", "results", "remaining", "future")

    def __init__(self, texts: list[str], contexts: list[str]):
        self.texts, self.contexts = texts, contexts
        self.results: list[Prediction | None] = [None] * len(texts)
        self.remaining = len(texts)
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self.future.set_running_or_notify_cancel()  # from now on cancel() is a no-op: only the worker resolves it


@dataclass
class _Segment:
    job: _Job
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


_STOP = object()


class Batcher:
    """Gathers the sentences of concurrent requests into batches of at most `max_batch`, one forward pass each,
    on one worker thread (see the module docstring). `calls` counts forward passes, `sentences` the sentences
    they scored, `max_seen` the largest batch."""

    def __init__(self, predictor, max_batch: int = 64, max_wait_ms: float = 5.0):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.predictor = predictor
        self.max_batch = max_batch
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.calls = 0
        self.sentences = 0
        self.max_seen = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> concurrent.futures.Future:
        """A future of the predictions (threshold 0) of `texts`, in order. Thread-safe."""
        texts = list(texts)
        contexts = [""] * len(texts) if contexts is None else [c or "" for c in contexts]
        if len(contexts) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(contexts)} contexts")
        job = _Job(texts, contexts)
        if not texts:
            job.future.set_result([])
            return job.future
        self._start()
        for start in range(0, len(texts), self.max_batch):
            self._queue.put(_Segment(job, start, min(len(texts), start + self.max_batch)))
        return job.future

    def predict(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[Prediction]:
        """Blocking `submit`, for threads that are not an event loop."""
        return self.submit(texts, contexts).result()

    async def apredict(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[Prediction]:
        return await asyncio.wrap_future(self.submit(texts, contexts))

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="stance-batcher", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued work, then end the worker thread (a later submit starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        carry: _Segment | None = None
        while True:
            if carry is not None:
                first, carry = carry, None
            else:
                first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = [first], False
            size = len(first)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                try:
                    left = deadline - time.monotonic()
                    seg = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if seg is _STOP:
                    stop = True
                    break
                room = self.max_batch - size
                if len(seg) > room:
                    carry = _Segment(seg.job, seg.start + room, seg.end)
                    seg = _Segment(seg.job, seg.start, seg.start + room)
                batch.append(seg)
                size += len(seg)
                if carry is not None:
                    break
            self._process(batch)
            if stop:
                if carry is not None:
                    self._process([carry])
                self._drain()
                return

    def _drain(self) -> None:
        """Work queued behind the stop: finish it too, so that no request waits forever."""
        while True:
            try:
                seg = self._queue.get_nowait()
            except queue.Empty:
                return
            if seg is not _STOP:
                self._process([seg])

    def _process(self, batch: list[_Segment]) -> None:
        batch = [seg for seg in batch if not seg.job.future.done()]  # a job failed in an earlier batch
        if not batch:
            return
        texts = [t for seg in batch for t in seg.job.texts[seg.start : seg.end]]
        contexts = [c for seg in batch for c in seg.job.contexts[seg.start : seg.end]]
        self.calls += 1
        self.sentences += len(texts)
        self.max_seen = max(self.max_seen, len(texts))
        try:
            preds = self.predictor.predict(texts, contexts, threshold=0.0, batch_size=self.max_batch)
            if len(preds) != len(texts):
                raise RuntimeError(f"the model returned {len(preds)} predictions for {len(texts)} sentences")
        except BaseException as exc:  # every failure goes to its requests, never kills the worker
            log.error("forward pass of %d sentences failed: %s: %s", len(texts), type(exc).__name__, exc)
            for seg in batch:
                if not seg.job.future.done():
                    seg.job.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        pos = 0
        for seg in batch:
            job = seg.job
            job.results[seg.start : seg.end] = preds[pos : pos + len(seg)]
            pos += len(seg)
            job.remaining -= len(seg)
            if job.remaining == 0 and not job.future.done():
                job.future.set_result(job.results)
