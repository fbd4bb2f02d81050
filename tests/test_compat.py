"""Model dirs written by an earlier version of stance load and predict as they did when written.

tests/fixtures/model-dirs-v1 holds a tiny transformer (with context), a TF-IDF and an ensemble dir trained
before the model-type refactor (issue 15), with the logits and labels they gave then (expected.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference import Predictor

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "model-dirs-v1"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_old_model_dir_predicts_as_it_did(kind):
    want = EXPECTED[kind]
    predictor = Predictor.load(FIXTURES / kind)
    logits = predictor.logits(want["texts"], want["contexts"])
    np.testing.assert_allclose(logits, np.array(want["logits"]), rtol=0, atol=1e-5)
    assert [p.label for p in predictor.predict(want["texts"], want["contexts"])] == want["labels"]


def test_context_matters_for_the_stored_context_model():
    """The stored transformer was trained with data.context=1: its logits must depend on the context given,
    so the test above checks the context path too."""
    want = EXPECTED["transformer"]
    predictor = Predictor.load(FIXTURES / "transformer")
    assert predictor.context
    without = predictor.logits(want["texts"], [""] * len(want["texts"]))
    assert not np.allclose(without, np.array(want["logits"]), atol=1e-5)
