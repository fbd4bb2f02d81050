"""TF-IDF baseline: word and character n-grams, logistic regression. Saved without pickle: vocabularies
as JSON, idf weights and coefficients as safetensors."""

from __future__ import annotations

import json
from pathlib import Path

from stance.atomic import write_json
from stance.errors import StanceError
from stance.model_types import LoadOptions, ModelType, TrainRun

WEIGHTS = "tfidf.safetensors"  # word_idf, char_idf, coef, intercept
VOCAB = "tfidf.json"  # vectorizer parameters and vocabularies


class TfidfModel(ModelType):
    name = "tfidf"
    files = (WEIGHTS,)

    def __init__(self, vectorizers: list, coef, intercept):
        self.vectorizers, self.coef, self.intercept = vectorizers, coef, intercept

    @classmethod
    def train(cls, cfg, corpus: dict[str, list[dict]], run: TrainRun | None = None) -> TfidfModel:
        rows = corpus["train"]
        return cls.fit(cfg, [r[cfg.data.text_field] for r in rows], [r[cfg.data.label_field] for r in rows])

    @classmethod
    def fit(cls, cfg, texts: list[str], labels: list[str]) -> TfidfModel:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizers = [TfidfVectorizer(**word_params(cfg)), TfidfVectorizer(**char_params(cfg))]
        balanced = "balanced" if cfg.train.class_weights else None
        clf = LogisticRegression(C=cfg.tfidf.C, max_iter=3000, class_weight=balanced, random_state=cfg.train.seed)
        clf.fit(hstack([v.fit_transform(texts) for v in vectorizers]).tocsr(), [cfg.labels.index(x) for x in labels])
        return cls(vectorizers, *_full_weights(clf, len(cfg.labels)))

    @classmethod
    def load(cls, model_dir: Path, meta: dict, options: LoadOptions | None = None) -> TfidfModel:
        from safetensors.numpy import load_file
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            vocab = json.loads((model_dir / VOCAB).read_text(encoding="utf-8"))
            weights = load_file(str(model_dir / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise StanceError(f"cannot load the TF-IDF model: {exc}", path=model_dir) from None
        vectorizers = []
        for name in ("word", "char"):
            params = {k: v for k, v in vocab[name]["params"].items() if k != "dtype"}
            vec = TfidfVectorizer(**params | {"ngram_range": tuple(params["ngram_range"])})
            vec.vocabulary_, vec.idf_ = vocab[name]["vocabulary"], weights[f"{name}_idf"]
            vectorizers.append(vec)
        return cls(vectorizers, weights["coef"], weights["intercept"])

    def logits(self, texts: list[str], contexts: list[str] | None = None, batch_size: int = 64):
        """The vectorizers' features side by side, times the coefficients (context is not used)."""
        import numpy as np
        from scipy.sparse import hstack

        x = hstack([v.transform(texts) for v in self.vectorizers]).tocsr()
        return np.asarray(x @ self.coef.T + self.intercept, dtype=np.float32)

    def save(self, out: Path) -> None:
        import numpy as np
        from safetensors.numpy import save_file

        word, char = self.vectorizers
        tensors = {"word_idf": word.idf_, "char_idf": char.idf_, "coef": self.coef, "intercept": self.intercept}
        save_file({k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, str(out / WEIGHTS))
        write_json(
            out / VOCAB,
            {
                name: {
                    "params": vec.get_params() | {"dtype": None},
                    "vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()},
                }
                for name, vec in (("word", word), ("char", char))
            },
        )

    @staticmethod
    def describe(meta: dict) -> str:
        return "TF-IDF word and character n-grams + logistic regression"


def _full_weights(clf, n_labels: int):
    """(coef [labels x features], intercept [labels]) over the config's full label list; a label absent
    from the training data gets intercept -1e4, so it is never predicted."""
    import numpy as np

    w, b = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # scikit-learn keeps one row for two classes
        w, b = np.vstack([np.zeros_like(w[0]), w[0]]), np.array([0.0, b[0]])
    coef = np.zeros((n_labels, w.shape[1]), dtype=np.float32)
    intercept = np.full(n_labels, -1e4, dtype=np.float32)
    for row, cls in enumerate(clf.classes_):
        coef[cls], intercept[cls] = w[row], b[row]
    return coef, intercept


def word_params(cfg) -> dict:
    c = cfg.tfidf
    return {
        "analyzer": "word",
        "ngram_range": (1, c.word_ngram_max),
        "lowercase": True,
        "sublinear_tf": True,
        "min_df": 1,
        "max_features": c.max_features,
        "token_pattern": r"(?u)\b\w+\b",
    }


def char_params(cfg) -> dict:
    c = cfg.tfidf
    return {
        "analyzer": "char_wb",
        "ngram_range": (c.char_ngram_min, c.char_ngram_max),
        "lowercase": True,
        "sublinear_tf": True,
        "min_df": 2,
        "max_features": c.max_features,
    }
