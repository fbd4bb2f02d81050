"""Temperature scaling: one scalar T, fitted on validation logits, that makes softmax(logits / T)
probabilities match observed accuracy (Guo et al., 2017). It never changes the predicted label."""

from __future__ import annotations


def softmax(logits, temperature: float = 1.0):
    import numpy as np

    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits, gold_ids) -> float:
    """T minimising the negative log-likelihood of the gold labels; a coarse-to-fine search over log T
    (the NLL is smooth and one-dimensional, so this is exact enough and cannot diverge)."""
    import numpy as np

    gold_ids = np.asarray(gold_ids)

    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(len(gold_ids)), gold_ids]
        return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = min(grid, key=nll)
    fine = best * np.exp(np.linspace(-0.06, 0.06, 61))
    return float(min(fine, key=nll))


def mix(logits_a, logits_b, weight_b: float, temperature_a: float = 1.0, temperature_b: float = 1.0):
    """An ensemble's logits: log of the average of two models' calibrated probabilities, model b given
    `weight_b`. Log-probabilities are logits like any other, so argmax, calibration and metrics apply."""
    import numpy as np

    p = (1 - weight_b) * softmax(logits_a, temperature_a) + weight_b * softmax(logits_b, temperature_b)
    return np.log(np.clip(p, 1e-12, 1.0)).astype(np.float32)
