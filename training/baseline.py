"""TF-IDF baseline: word and character n-grams, logistic regression. Saved without pickle:
vocabularies as JSON, idf weights and coefficients as safetensors (loaded by inference.tfidf)."""

from __future__ import annotations

from pathlib import Path

from stance.atomic import write_json
from stance.config import Config
from stance.model import TFIDF_VOCAB, TFIDF_WEIGHTS


class TfidfModel:
    def __init__(self, cfg: Config):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        c = cfg.tfidf
        self.cfg = cfg
        self.word = TfidfVectorizer(**tfidf_word_params(cfg))
        self.char = TfidfVectorizer(**tfidf_char_params(cfg))
        balanced = "balanced" if cfg.train.class_weights else None
        self.clf = LogisticRegression(C=c.C, max_iter=3000, class_weight=balanced, random_state=cfg.train.seed)

    def fit(self, texts: list[str], labels: list[str]) -> TfidfModel:
        from scipy.sparse import hstack

        x = hstack([self.word.fit_transform(texts), self.char.fit_transform(texts)]).tocsr()
        ids = [self.cfg.labels.index(lab) for lab in labels]
        self.clf.fit(x, ids)
        return self

    def weights(self):
        """(coef [labels x features], intercept [labels]) over the config's full label list; a label absent
        from the training data gets intercept -1e4, so it is never predicted."""
        import numpy as np

        w, b = self.clf.coef_, self.clf.intercept_
        if len(self.clf.classes_) == 2:  # scikit-learn keeps one row for two classes
            w, b = np.vstack([np.zeros_like(w[0]), w[0]]), np.array([0.0, b[0]])
        coef = np.zeros((len(self.cfg.labels), w.shape[1]), dtype=np.float32)
        intercept = np.full(len(self.cfg.labels), -1e4, dtype=np.float32)
        for row, cls in enumerate(self.clf.classes_):
            coef[cls], intercept[cls] = w[row], b[row]
        return coef, intercept

    def logits(self, texts: list[str]):
        from stance.encoding import tfidf_logits

        return tfidf_logits([self.word, self.char], *self.weights(), texts)

    def save(self, out: Path) -> None:
        import numpy as np
        from safetensors.numpy import save_file

        coef, intercept = self.weights()
        save_file(
            {
                "word_idf": self.word.idf_.astype(np.float32),
                "char_idf": self.char.idf_.astype(np.float32),
                "coef": coef,
                "intercept": intercept,
            },
            str(out / TFIDF_WEIGHTS),
        )
        write_json(
            out / TFIDF_VOCAB,
            {
                name: {
                    "params": vec.get_params() | {"dtype": None},
                    "vocabulary": {k: int(v) for k, v in vec.vocabulary_.items()},
                }
                for name, vec in (("word", self.word), ("char", self.char))
            },
        )


def tfidf_word_params(cfg: Config) -> dict:
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


def tfidf_char_params(cfg: Config) -> dict:
    c = cfg.tfidf
    return {
        "analyzer": "char_wb",
        "ngram_range": (c.char_ngram_min, c.char_ngram_max),
        "lowercase": True,
        "sublinear_tf": True,
        "min_df": 2,
        "max_features": c.max_features,
    }
