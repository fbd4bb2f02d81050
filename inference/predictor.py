"""Predictor: one API over transformer and TF-IDF model dirs, with calibrated probabilities.

Speed (CPU): sentences are grouped into batches of equal token length within each chunk (no padding),
BERT-style models skip the last layer's work on positions the classifier never reads
(`stance.encoding.cls_forward`), batches run in parallel one thread each, under torch.inference_mode, and
`precision` picks fp32, bf16 autocast or dynamic int8 quantisation of the Linear layers. `stream` reads and
writes in chunks, so the records of a large file are never all in memory at once.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stance.calibration import softmax
from stance.errors import StanceError
from stance.model import TFIDF_VOCAB, TFIDF_WEIGHTS, read_meta

PRECISIONS = ("fp32", "bf16", "int8")
# encoder families whose int8 quality was measured (docs/benchmarks.md): MiniLM keeps its macro-F1 within 0.2
# points; all-mpnet-base-v2 fell from 0.80 to 0.59 on test, so int8 is refused for anything else
INT8_VALIDATED = ("bert",)
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


class Predictor:
    def __init__(self, model_dir: Path, meta: dict, backend, precision: str):
        self.model_dir = model_dir
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        self.context = bool(meta.get("config", {}).get("data", {}).get("context", 0))
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))
        self.precision = precision
        self._backend = backend

    @classmethod
    def load(cls, model_dir: str | Path, precision: str = "fp32", threads: int = 0) -> Predictor:
        model_dir = Path(model_dir)
        if precision not in PRECISIONS:
            raise StanceError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        meta = read_meta(model_dir)
        if meta["type"] == "tfidf":
            backend = _TfidfBackend(model_dir)
        elif meta["type"] == "ensemble":
            backend = _EnsembleBackend(model_dir, meta, precision, threads)
        else:
            backend = _TransformerBackend(model_dir, meta, precision, threads)
        return cls(model_dir, meta, backend, precision)

    def logits(self, texts: Sequence[str], contexts: Sequence[str] | None = None, batch_size: int = 64):
        if not texts:
            import numpy as np

            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if not self.context:
            contexts = None  # a model trained without context ignores it
        elif contexts is None:
            contexts = [""] * len(texts)
        return self._backend.logits(list(texts), None if contexts is None else list(contexts), batch_size)

    def predict_proba(self, texts: Sequence[str], contexts: Sequence[str] | None = None, batch_size: int = 64):
        """Calibrated probabilities, one row per text, columns in `self.labels` order."""
        return softmax(self.logits(texts, contexts, batch_size), self.temperature)

    def predict(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None, threshold: float = 0.0, batch_size: int = 64
    ) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        if not 0.0 <= threshold <= 1.0:
            raise StanceError(f"threshold must be between 0 and 1, got {threshold}")
        probs = self.predict_proba(texts, contexts, batch_size)
        out = []
        for text, row in zip(texts, probs, strict=True):
            top = int(row.argmax())
            label = self.labels[top] if row[top] >= threshold else UNCERTAIN
            out.append(
                Prediction(
                    text, label, float(row[top]), {lab: float(p) for lab, p in zip(self.labels, row, strict=True)}
                )
            )
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


class _TransformerBackend:
    def __init__(self, model_dir: Path, meta: dict, precision: str, threads: int):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        torch.set_num_threads(threads or os.cpu_count() or 1)
        if not (model_dir / "config.json").is_file():
            raise StanceError("config.json missing: not a transformer model directory", path=model_dir)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError) as exc:
            raise StanceError(f"cannot load the model: {str(exc).splitlines()[0]}", path=model_dir) from None
        if model.config.num_labels != len(meta["labels"]):
            raise StanceError(
                f"the weights have {model.config.num_labels} outputs but stance.json lists "
                f"{len(meta['labels'])} labels",
                path=model_dir,
            )
        model.eval()
        if precision == "int8":
            if model.config.model_type not in INT8_VALIDATED:
                raise StanceError(
                    f"int8 is validated on BERT-family encoders only; this is {model.config.model_type} "
                    "(mpnet loses 0.2 macro-F1 under dynamic int8): use --precision bf16",
                    path=model_dir,
                )
            model = quantize_int8(model)
        if precision == "bf16" and not _native_bf16():
            print(
                "warning: this CPU has no native bf16 (AVX512-BF16/AMX): bf16 will be slower than fp32", file=sys.stderr
            )
        self.model = model
        self.bf16 = precision == "bf16"
        self.max_length = int(meta["config"]["model"]["max_length"])
        self.workers = torch.get_num_threads()  # batches run in parallel, one thread each

    def logits(self, texts, contexts, batch_size):
        from stance.encoding import batched_logits

        return batched_logits(
            self.model, self.tokenizer, texts, contexts, self.max_length, batch_size, self.bf16, self.workers
        )


def quantize_int8(model, per_channel: bool = True):
    """Dynamic int8 quantisation of the Linear layers (weights int8, activations quantised per batch).
    Per-channel weight scales: on the default model they keep validation macro-F1 within 0.2 points of fp32,
    where per-tensor scales lost 1.7 points (docs/benchmarks.md)."""
    import warnings

    import torch

    q = torch.ao.quantization
    qconfig = {torch.nn.Linear: q.per_channel_dynamic_qconfig} if per_channel else {torch.nn.Linear}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        return q.quantize_dynamic(model, qconfig, dtype=torch.qint8)


def _native_bf16() -> bool:
    import torch

    if torch.cuda.is_available():
        return True
    capability = torch.backends.cpu.get_cpu_capability()
    return "AMX" in capability or "BF16" in capability


class _TfidfBackend:
    def __init__(self, model_dir: Path):
        import json

        from safetensors.numpy import load_file
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            vocab = json.loads((model_dir / TFIDF_VOCAB).read_text(encoding="utf-8"))
            weights = load_file(str(model_dir / TFIDF_WEIGHTS))
        except (OSError, ValueError) as exc:
            raise StanceError(f"cannot load the TF-IDF model: {exc}", path=model_dir) from None
        self.vectorizers = []
        for name in ("word", "char"):
            params = {k: v for k, v in vocab[name]["params"].items() if k != "dtype"}
            params["ngram_range"] = tuple(params["ngram_range"])
            vec = TfidfVectorizer(**params)
            vec.vocabulary_ = vocab[name]["vocabulary"]
            vec.idf_ = weights[f"{name}_idf"]
            self.vectorizers.append(vec)
        self.coef, self.intercept = weights["coef"], weights["intercept"]

    def logits(self, texts, contexts, batch_size):
        from stance.encoding import tfidf_logits

        return tfidf_logits(self.vectorizers, self.coef, self.intercept, texts)


class _EnsembleBackend:
    """The transformer and the TF-IDF model of one dir, their calibrated probabilities averaged."""

    def __init__(self, model_dir: Path, meta: dict, precision: str, threads: int):
        self.transformer = _TransformerBackend(model_dir, meta, precision, threads)
        self.tfidf = _TfidfBackend(model_dir)
        e = meta["ensemble"]
        try:
            self.weight = float(e["tfidf_weight"])
            self.temperatures = (float(e["transformer_temperature"]), float(e["tfidf_temperature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StanceError(f"corrupt stance.json: bad 'ensemble' entry ({exc})", path=model_dir) from None

    def logits(self, texts, contexts, batch_size):
        from stance.calibration import mix

        return mix(
            self.transformer.logits(texts, contexts, batch_size),
            self.tfidf.logits(texts, contexts, batch_size),
            self.weight,
            *self.temperatures,
        )
