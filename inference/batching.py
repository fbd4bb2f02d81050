"""Micro-batching for `stance serve`: requests that arrive together share one forward pass.

A request's sentences are queued in segments of at most `max_batch`. A *lane* (a worker thread; one or more)
takes the first waiting segment, keeps taking segments for up to `max_wait_ms` or until `enough` sentences are
gathered (a segment larger than the room left is split, its rest stays first in the queue), runs ONE
`predictor.predict(texts, contexts, threshold=0)` over them, and writes each prediction into its request's
result slots. When a request's last slot is filled its `Future` is resolved; the request (awaiting it on the
event loop, never blocking it) then applies its own threshold (Predictor's "uncertain" rule).

`enough` is the largest of the last 2 x lanes batches (at most `max_batch`; `max_batch` before the first):
the clients of a batch that just finished send their next requests together, so once that many are back,
waiting longer only idles the lane; a lone client's request (recent batches of 1) waits not at all. Waiting
for a full `max_batch` instead cost every batch the whole `max_wait_ms` under steady load (a core idle ~10% of
the time) and every lone request `max_wait_ms` of latency.

Lanes: on a CPU, two batches scored side by side on one thread each keep both cores busy while the other's
requests go back and forth over HTTP; one batch on two threads leaves the cores idle during that turnaround
(docs/benchmarks.md, serving). A lane that gathered N sentences while k lanes are idle (itself included) takes
only ceil(N / k) of them, so 16 waiting one-sentence requests become two batches of 8, not one of 16 and an
idle lane. Only one lane gathers at a time.

Thread safety: the queue, its counters and the batch counters are guarded by one Condition; result slots are
written by the lane that scored them (each slot by exactly one lane) and read by a request only after its
future resolved; `remaining` is decremented under the Condition. Futures are marked running when submitted,
so a request cancelled by a disconnecting client cannot make set_result fail.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference.predictor import Prediction

log = logging.getLogger("stance.serve")


class _Job:
    """One request's sentences; `results` slots are written by the lane that scored them, `remaining` under
    the Batcher's Condition."""

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


class Batcher:
    """Gathers the sentences of concurrent requests into batches of at most `max_batch`, one forward pass each,
    on `lanes` worker threads (see the module docstring). `calls` counts forward passes, `sentences` the
    sentences they scored, `max_seen` the largest batch. With `lanes` > 1 each lane first calls
    `predictor.init_lane()` (a transformer on the CPU sets that thread to one torch thread)."""

    def __init__(self, predictor, max_batch: int = 64, max_wait_ms: float = 5.0, lanes: int = 1):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self.predictor = predictor
        self.max_batch = max_batch
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.lanes = lanes
        self.calls = 0
        self.sentences = 0
        self.max_seen = 0
        self._cond = threading.Condition()
        self._pending: collections.deque[_Segment] = collections.deque()
        self._count = 0  # sentences in _pending
        self._busy = 0  # lanes inside a forward pass
        self._gathering = False
        self._recent: collections.deque[int] = collections.deque(maxlen=2 * lanes)  # sizes of the last batches
        self._stopping = False
        self._threads: list[threading.Thread] = []

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
        with self._cond:
            self._start()
            for start in range(0, len(texts), self.max_batch):
                self._pending.append(_Segment(job, start, min(len(texts), start + self.max_batch)))
            self._count += len(texts)
            self._cond.notify_all()
        return job.future

    def predict(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[Prediction]:
        """Blocking `submit`, for threads that are not an event loop."""
        return self.submit(texts, contexts).result()

    async def apredict(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[Prediction]:
        return await asyncio.wrap_future(self.submit(texts, contexts))

    def _start(self) -> None:
        """(Under the Condition.) Start the lanes if they are not running."""
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.lanes:
            thread = threading.Thread(target=self._run, name=f"stance-lane-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued work, then end the lanes (a later submit starts new ones)."""
        with self._cond:
            threads, self._threads = self._threads, []
            self._stopping = True
            self._cond.notify_all()
        for thread in threads:
            thread.join(timeout)
        with self._cond:
            self._stopping = False

    def _run(self) -> None:
        if self.lanes > 1:
            self.predictor.init_lane()
        while (batch := self._next_batch()) is not None:
            self._process(batch)

    def _next_batch(self) -> list[_Segment] | None:
        """The next batch for this lane (see the module docstring), or None once stopping with nothing left."""
        with self._cond:
            while not self._pending or self._gathering:
                if self._stopping and not self._pending:
                    return None
                self._cond.wait()
            self._gathering = True
            deadline = time.monotonic() + self.max_wait
            enough = min(self.max_batch, max(self._recent, default=self.max_batch))
            while self._count < enough and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            idle = self.lanes - self._busy  # this lane included
            room = min(self.max_batch, -(-self._count // idle))
            batch = []
            while room > 0 and self._pending:
                seg = self._pending.popleft()
                if len(seg) > room:  # split: the rest stays first in line
                    self._pending.appendleft(_Segment(seg.job, seg.start + room, seg.end))
                    seg = _Segment(seg.job, seg.start, seg.start + room)
                batch.append(seg)
                room -= len(seg)
            taken = sum(len(seg) for seg in batch)
            self._count -= taken
            self._recent.append(taken)
            self._gathering = False
            self._busy += 1
            self._cond.notify_all()  # another lane may gather what is left
            return batch

    def _process(self, batch: list[_Segment]) -> None:
        try:
            self._score(batch)
        finally:
            with self._cond:
                self._busy -= 1

    def _score(self, batch: list[_Segment]) -> None:
        batch = [seg for seg in batch if not seg.job.future.done()]  # a job failed in an earlier batch
        if not batch:
            return
        texts = [t for seg in batch for t in seg.job.texts[seg.start : seg.end]]
        contexts = [c for seg in batch for c in seg.job.contexts[seg.start : seg.end]]
        with self._cond:
            self.calls += 1
            self.sentences += len(texts)
            self.max_seen = max(self.max_seen, len(texts))
        try:
            preds = self.predictor.predict(texts, contexts, threshold=0.0, batch_size=self.max_batch)
            if len(preds) != len(texts):
                raise RuntimeError(f"the model returned {len(preds)} predictions for {len(texts)} sentences")
        except BaseException as exc:  # every failure goes to its requests, never kills the lane
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
            with self._cond:
                job.remaining -= len(seg)
                done = job.remaining == 0
            if done and not job.future.done():
                job.future.set_result(job.results)
