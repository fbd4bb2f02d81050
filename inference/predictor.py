"""Predictor: one API over every model type (`stance.model_types.MODEL_TYPES`), with calibrated
probabilities, an "uncertain" threshold and streaming.

Speed (CPU) comes from the model types: the transformer groups sentences into batches of equal token
length (no padding), skips the last layer's work on positions the classifier never reads, scores batches
in parallel one thread each, and `precision` picks fp32, bf16 autocast or dynamic int8. `stream` reads and
writes in chunks, so the records of a large file are never all in memory at once.

Safe in a long-lived process with concurrent callers: torch's thread count is set once, at load, and
never changed by a call.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stance.calibration import softmax
from stance.errors import StanceError
from stance.model_types import MODEL_TYPES, LoadOptions
from stance.modeldir import read_meta

UNCERTAIN = "uncertain"
CHUNK = 4096  # sentences read, sorted and predicted together when streaming (more: fuller equal-length batches)


@dataclass
class Prediction:
    text: str
    label: str  # the top label, or "uncertain" when its probability is below the threshold
    score: float  # calibrated probability of the top label
    probs: dict[str, float]

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
        }

    def thresholded(self, threshold: float) -> Prediction:
        """The one "uncertain" rule: the top label stands when its probability is at least `threshold`."""
        return self if self.score >= threshold else dataclasses.replace(self, label=UNCERTAIN)


class Predictor:
    def __init__(self, model_dir: Path, meta: dict, model):
        self.model_dir = model_dir
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        self.context = bool(meta.get("config", {}).get("data", {}).get("context", 0))
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))
        self.model = model  # a stance.model_types.ModelType
        # what ran: "auto" resolved by the model type (stance.hardware), and why; TF-IDF is always fp32
        self.precision = getattr(model, "precision", "fp32")
        self.precision_reason = getattr(model, "precision_reason", "")

    @classmethod
    def load(cls, model_dir: str | Path, precision: str = "fp32", threads: int = 0) -> Predictor:
        """`threads` > 0 sets torch's CPU threads once, here (process-wide); 0 keeps torch's default."""
        model_dir = Path(model_dir)
        options = LoadOptions(precision=precision, threads=threads)  # checked before the model dir is read
        meta = read_meta(model_dir)
        model = MODEL_TYPES[meta["type"]].load(model_dir, meta, options)
        return cls(model_dir, meta, model)

    def logits(self, texts: Sequence[str], contexts: Sequence[str] | None = None, batch_size: int = 64):
        if not texts:
            import numpy as np

            return np.zeros((0, len(self.labels)), dtype=np.float32)
        contexts = None if contexts is None else list(contexts)
        return self.model.logits(list(texts), contexts, batch_size)

    def lanes(self) -> int:
        """Batches this model scores well side by side, one thread each (`stance serve`'s lanes)."""
        return self.model.lanes()

    def init_lane(self) -> None:
        """Make the calling thread one of `lanes()`."""
        self.model.init_lane()

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None, batch_size: int = 64):
        """Calibrated probabilities, one row per text, columns in `self.labels` order."""
        return softmax(self.logits(texts, contexts, batch_size), self.temperature)

    def predict(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None, threshold: float = 0.0, batch_size: int = 64
    ) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        if not 0.0 <= threshold <= 1.0:
            raise StanceError(f"must be between 0 and 1, got {threshold}", option="threshold")
        probs = self.predict_proba(texts, contexts, batch_size)
        out = []
        for text, row in zip(texts, probs, strict=True):
            top = int(row.argmax())
            probs_of = {lab: float(p) for lab, p in zip(self.labels, row, strict=True)}
            out.append(Prediction(text, self.labels[top], float(row[top]), probs_of).thresholded(threshold))
        return out

    def stream(
        self, items: Iterable[tuple[str, str | None]], threshold: float = 0.0, batch_size: int = 64, chunk: int = CHUNK
    ) -> Iterator[Prediction]:
        """Predict (text, context) pairs lazily, `chunk` at a time, in input order."""
        it = iter(items)
        while block := list(itertools.islice(it, chunk)):
            texts = [t for t, _ in block]
            contexts = [c or "" for _, c in block]
            yield from self.predict(texts, contexts, threshold, batch_size)
