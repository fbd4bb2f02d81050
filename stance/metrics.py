"""Classification metrics in plain Python (no scikit-learn import): confusion matrix, per-class P/R/F1,
macro-F1, accuracy, expected calibration error, and bootstrap confidence intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def confusion_matrix(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Rows: gold label; columns: predicted label (a prediction outside `labels`, e.g. 'uncertain', is dropped)."""
    index = {lab: i for i, lab in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            matrix[index[g]][index[p]] += 1
    return matrix


def per_class(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p != lab)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[lab] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    """Mean F1 over the labels that occur in `gold` (a label absent from the gold data is not scored)."""
    scores = per_class(gold, pred, labels)
    present = [lab for lab in labels if scores[lab]["support"] > 0]
    return sum(scores[lab]["f1"] for lab in present) / len(present) if present else 0.0


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold) if gold else 0.0


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[dict]:
    """Equal-width confidence bins: each bin's size, accuracy and mean confidence (None when empty).
    The one binning behind both the ECE and the reliability diagram."""
    members: list[list[int]] = [[] for _ in range(bins)]
    for i, c in enumerate(confidences):  # (lo, hi] per bin; a confidence of exactly 0 goes to the first
        for b in range(bins):
            if b / bins < c <= (b + 1) / bins or (b == 0 and c == 0):
                members[b].append(i)
                break
    out = []
    for b, idx in enumerate(members):
        out.append(
            {
                "lo": b / bins,
                "hi": (b + 1) / bins,
                "n": len(idx),
                "accuracy": sum(correct[i] for i in idx) / len(idx) if idx else None,
                "confidence": sum(confidences[i] for i in idx) / len(idx) if idx else None,
            }
        )
    return out


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: sum over the reliability bins of |accuracy - mean confidence| * bin share."""
    n = len(confidences)
    return sum(
        abs(b["accuracy"] - b["confidence"]) * b["n"] / n
        for b in reliability_bins(confidences, correct, bins)
        if b["n"]
    )


def bootstrap_interval(n: int, statistic, samples: int = 1000, seed: int = 0, alpha: float = 0.05):
    """Percentile bootstrap: `statistic(indices)` over `samples` resamples of range(n) with replacement."""
    rng = random.Random(seed)
    values = sorted(statistic([rng.randrange(n) for _ in range(n)]) for _ in range(samples))
    lo = values[max(0, math.floor(alpha / 2 * samples))]
    hi = values[min(samples - 1, math.ceil((1 - alpha / 2) * samples) - 1)]
    return lo, hi


def bootstrap_ci(
    gold: Sequence[str], pred: Sequence[str], metric, samples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Interval of metric(gold, pred) over resampled rows."""
    return bootstrap_interval(
        len(gold), lambda idx: metric([gold[i] for i in idx], [pred[i] for i in idx]), samples, seed, alpha
    )


def summary(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], ci: bool = False) -> dict:
    """The metrics stored in a model dir after training; `ci` adds a 95% bootstrap interval of macro-F1
    (1,000 resamples of the rows, seed 0: the same interval `stance evaluate` reports)."""
    out = {
        "n": len(gold),
        "accuracy": round(accuracy(gold, pred), 4),
        "macro_f1": round(macro_f1(gold, pred, labels), 4),
        "per_class_f1": {lab: round(v["f1"], 4) for lab, v in per_class(gold, pred, labels).items()},
    }
    if ci:
        lo, hi = bootstrap_ci(gold, pred, lambda g, p: macro_f1(g, p, labels))
        out["macro_f1_ci"] = [round(lo, 4), round(hi, 4)]
    return out
