"""Model types: one file each, one small interface, one registry.

Every type trains from the corpus, gives logits for texts, saves to a model dir and loads from one.
`training` trains and writes model dirs through this interface, `inference` loads and scores through it,
and neither knows which types exist: a new type is one file here plus one line in MODEL_TYPES.
Heavy libraries are imported inside the methods, so importing this package stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from stance.hardware import PRECISIONS  # auto | fp32 | bf16 | int8


@dataclass(frozen=True)
class LoadOptions:
    precision: str = "fp32"  # fp32 | bf16 (autocast) | int8 (dynamic quantisation) | auto (stance.hardware)
    threads: int = 0  # torch CPU threads, set once at load (process-wide); 0 keeps torch's default

    def __post_init__(self):
        from stance.errors import StanceError

        if self.precision not in PRECISIONS:
            raise StanceError(f"must be one of {', '.join(PRECISIONS)}, got {self.precision!r}", option="precision")


@dataclass(frozen=True)
class TrainRun:
    run_dir: Path  # where a run keeps its resumable checkpoint
    resume: bool = False
    quiet: bool = False


class ModelType:
    """The interface. `files` are the weight files a model dir of this type must hold."""

    name: ClassVar[str]
    files: ClassVar[tuple[str, ...]]

    @classmethod
    def preflight(cls, cfg) -> None:
        """Fail fast on a config this type cannot train (before the corpus is read or anything written)."""

    @classmethod
    def train(cls, cfg, corpus: dict[str, list[dict]], run: TrainRun) -> ModelType:
        raise NotImplementedError

    @classmethod
    def load(cls, model_dir: Path, meta: dict, options: LoadOptions) -> ModelType:
        raise NotImplementedError

    def logits(self, texts: list[str], contexts: list[str] | None = None, batch_size: int = 64):
        """float32 array [len(texts) x labels]. `contexts`: each text's previous sentence (used by models
        trained with data.context=1, ignored by the others)."""
        raise NotImplementedError

    def lanes(self) -> int:
        """How many batches this model scores well side by side, one thread each (a server's lanes)."""
        return 1

    def init_lane(self) -> None:
        """Set up the calling thread as one of `lanes()` (called once, in that thread)."""

    def save(self, out: Path) -> None:
        raise NotImplementedError

    def meta(self) -> dict:
        """Entries this type adds to stance.json (training history, ensemble weights)."""
        return {}

    @staticmethod
    def describe(meta: dict) -> str:
        """One line for the model card: what was trained."""
        return meta["type"]


def _registry() -> dict[str, type[ModelType]]:
    from stance.model_types.ensemble import EnsembleModel
    from stance.model_types.tfidf import TfidfModel
    from stance.model_types.transformer import TransformerModel

    return {"transformer": TransformerModel, "tfidf": TfidfModel, "ensemble": EnsembleModel}


MODEL_TYPES = _registry()
