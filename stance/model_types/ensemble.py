"""The transformer and the TF-IDF baseline in one model dir: each calibrated on validation, their
probabilities averaged with the TF-IDF share `ensemble.tfidf_weight`."""

from __future__ import annotations

from pathlib import Path

from stance.calibration import fit_temperature, mix
from stance.errors import StanceError
from stance.model_types import LoadOptions, ModelType, TrainRun
from stance.model_types.tfidf import TfidfModel
from stance.model_types.transformer import TransformerModel


class EnsembleModel(ModelType):
    name = "ensemble"
    files = (*TransformerModel.files, *TfidfModel.files)

    def __init__(self, transformer: TransformerModel, tfidf: TfidfModel, weights: dict):
        self.transformer, self.tfidf = transformer, tfidf
        self.weights = weights  # tfidf_weight, transformer_temperature, tfidf_temperature

    @classmethod
    def preflight(cls, cfg) -> None:
        TransformerModel.preflight(cfg)

    @classmethod
    def train(cls, cfg, corpus: dict[str, list[dict]], run: TrainRun) -> EnsembleModel:
        members = (TransformerModel.train(cfg, corpus, run), TfidfModel.train(cfg, corpus, run))
        val = corpus["validation"]
        texts, contexts = [r[cfg.data.text_field] for r in val], [r["context"] for r in val]
        gold = [cfg.labels.index(r[cfg.data.label_field]) for r in val]
        weights = {"tfidf_weight": cfg.ensemble.tfidf_weight}
        for name, member in zip(("transformer", "tfidf"), members, strict=True):
            weights[f"{name}_temperature"] = round(fit_temperature(member.logits(texts, contexts), gold), 4)
        return cls(*members, weights)

    @classmethod
    def load(cls, model_dir: Path, meta: dict, options: LoadOptions) -> EnsembleModel:
        e = meta.get("ensemble")
        try:
            weights = {k: float(e[k]) for k in ("tfidf_weight", "transformer_temperature", "tfidf_temperature")}
        except (KeyError, TypeError, ValueError) as exc:
            raise StanceError(f"corrupt stance.json: bad 'ensemble' entry ({exc})", path=model_dir) from None
        members = TransformerModel.load(model_dir, meta, options), TfidfModel.load(model_dir, meta, options)
        return cls(*members, weights)

    def logits(self, texts: list[str], contexts: list[str] | None = None, batch_size: int = 64):
        w = self.weights
        return mix(
            self.transformer.logits(texts, contexts, batch_size),
            self.tfidf.logits(texts, contexts, batch_size),
            w["tfidf_weight"],
            w["transformer_temperature"],
            w["tfidf_temperature"],
        )

    def save(self, out: Path) -> None:  # a Hugging Face dir at the top, the TF-IDF files beside it
        self.transformer.save(out)
        self.tfidf.save(out)

    def meta(self) -> dict:
        return {**self.transformer.meta(), "ensemble": self.weights}

    @staticmethod
    def describe(meta: dict) -> str:
        return (
            f"encoder `{meta['config']['model'].get('encoder')}` and TF-IDF + logistic regression, calibrated "
            f"probabilities averaged (TF-IDF weight {meta.get('ensemble', {}).get('tfidf_weight')})"
        )
