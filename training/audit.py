"""`stance data audit`: find likely label errors in a labeled corpus (confident learning).

K-fold out-of-fold probabilities, folds grouped by article, from the TF-IDF baseline (fast). Per label j,
a threshold t_j = mean out-of-fold probability of j over sentences labeled j (how sure the model usually is
about that label). A sentence labeled g is a likely error when p_g < t_g and another label k is the model's
top choice; candidates are ranked by p_k - p_g, largest first. (Requiring p_k >= t_k as well, as strict
confident learning does, missed flips into labels the model is always very sure about.)
"""

from __future__ import annotations

from collections import Counter

from stance.config import Config
from stance.data import load_labeled, require_article_ids
from stance.errors import StanceError
from stance.model_types.tfidf import TfidfModel
from training.crossval import fold_assignment


def out_of_fold_probs(cfg: Config, rows: list[dict], folds: int):
    import numpy as np

    from stance.calibration import softmax

    sizes = Counter(str(r["article_id"]) for r in rows)
    if len(sizes) < folds:
        raise StanceError(f"audit needs at least {folds} articles, the corpus has {len(sizes)}")
    assign = fold_assignment(sizes, folds, cfg.train.seed)
    field_t, field_l = cfg.data.text_field, cfg.data.label_field
    probs = np.zeros((len(rows), len(cfg.labels)))
    for k in range(folds):
        train = [r for r in rows if assign[str(r["article_id"])] != k]
        held = [i for i, r in enumerate(rows) if assign[str(r["article_id"])] == k]
        model = TfidfModel.fit(cfg, [r[field_t] for r in train], [r[field_l] for r in train])
        probs[held] = softmax(model.logits([rows[i][field_t] for i in held]))
    return probs


def audit(cfg: Config, folds: int = 5) -> list[dict]:
    if cfg.model.type != "tfidf":
        raise StanceError(
            "audit runs on the TF-IDF baseline: use a config with model.type: tfidf (e.g. configs/tfidf.yaml)"
        )
    rows = load_labeled(cfg.data.sentences, cfg.labels, cfg.data.text_field, cfg.data.label_field)
    require_article_ids(rows, cfg.data.sentences)
    probs = out_of_fold_probs(cfg, rows, folds)
    labels = cfg.labels
    given = [labels.index(r[cfg.data.label_field]) for r in rows]
    thresholds = []
    for j in range(len(labels)):
        mine = [probs[i, j] for i in range(len(rows)) if given[i] == j]
        thresholds.append(sum(mine) / len(mine) if mine else 1.0)
    issues = []
    for i, r in enumerate(rows):
        g = given[i]
        if probs[i, g] >= thresholds[g]:
            continue
        k = int(probs[i].argmax())
        if k == g:
            continue
        issues.append(
            {
                "id": r.get("id"),
                "line": r["_line"],
                "text": r[cfg.data.text_field],
                "given": labels[g],
                "suggested": labels[k],
                "p_given": round(float(probs[i, g]), 4),
                "p_suggested": round(float(probs[i, k]), 4),
                "score": round(float(probs[i, k] - probs[i, g]), 4),
            }
        )
    issues.sort(key=lambda e: -e["score"])
    return issues
