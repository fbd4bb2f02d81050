"""`stance predict` and the Predictor API: every input and output form, threshold, summary, precisions."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance.cli import app

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "data/articles/a001-nato-air-missile-defence.txt"
LABELS = ["threat_assessment", "policy_response", "reassurance", "other"]
runner = CliRunner()


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_positional_texts_to_jsonl(tiny_model):
    result = runner.invoke(
        app, ["predict", str(tiny_model), "The missile threat is growing.", "Citizens are safe.", "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.output
    recs = jsonl(result.stdout)
    assert [r["text"] for r in recs] == ["The missile threat is growing.", "Citizens are safe."]
    for r in recs:
        assert r["label"] in LABELS
        assert set(r["probs"]) == set(LABELS)
        assert abs(sum(r["probs"].values()) - 1) < 1e-3
        assert r["score"] == max(r["probs"].values())


def test_default_format_is_jsonl_off_a_terminal(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "Citizens are safe."])
    assert result.exit_code == 0
    assert jsonl(result.stdout)[0]["text"] == "Citizens are safe."


def test_stdin_one_text_a_line(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "-"], input="First text.\n\nSecond text.\n")
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in jsonl(result.stdout)] == ["First text.", "Second text."]


def test_empty_stdin_gives_empty_output_and_says_so(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "-", "--format", "csv"], input="\n  \n")
    assert result.exit_code == 0 and "no sentences in stdin" in result.stderr
    assert result.stdout.splitlines() == ["text,label,score," + ",".join(f"p_{lab}" for lab in LABELS)]


def test_article_input_gives_ids_and_indexes(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(SEED), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    recs = jsonl(result.stdout)
    assert len(recs) >= 15
    assert [r["index"] for r in recs] == list(range(len(recs)))
    assert {r["article_id"] for r in recs} == {"a001-nato-air-missile-defence"}
    assert recs[1]["text"].startswith("Home / News")


def test_jsonl_input_passes_fields_through(tiny_model, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"body": "The army will deploy troops.", "source": "wire", "n": 7}\n', encoding="utf-8")
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(path), "--text-field", "body", "-q"])
    assert result.exit_code == 0, result.output
    rec = jsonl(result.stdout)[0]
    assert rec["source"] == "wire" and rec["n"] == 7 and rec["body"] == "The army will deploy troops."
    assert rec["label"] in LABELS


def test_csv_in_csv_out_with_a_column_per_label(tiny_model, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,The army will deploy troops.\n2,"Calm, no panic."\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(src), "--output", str(out), "-q"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["id"] for r in rows] == ["1", "2"]
    assert set(rows[0]) == {"id", "text", "label", "score", *[f"p_{lab}" for lab in LABELS]}
    assert rows[1]["text"] == "Calm, no panic."


def test_table_format_and_summary(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "--input", str(SEED), "--format", "table", "--summary"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0].split() == ["#", "label", "score", "text"]
    assert "summary:" in out and "most confident" in out
    n = int(out.split("summary: ")[1].split()[0])
    counts = [
        int(line.split()[1])
        for line in out.split("summary:")[1].splitlines()[1:]
        if line.startswith("  ") and line.split()[0] in LABELS + ["uncertain"] and "%" in line
    ]
    assert sum(counts) == n


def test_threshold_marks_uncertain_and_keeps_probs(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "Some text here.", "--threshold", "1.0", "-f", "jsonl"])
    assert result.exit_code == 0
    rec = jsonl(result.stdout)[0]
    assert rec["label"] == "uncertain" and set(rec["probs"]) == set(LABELS)
    result = runner.invoke(app, ["predict", str(tiny_model), "Some text here.", "--threshold", "0", "-f", "jsonl"])
    assert jsonl(result.stdout)[0]["label"] in LABELS


@pytest.mark.parametrize("value", ["-0.1", "1.5"])
def test_threshold_outside_unit_interval_is_an_error(tiny_model, value):
    result = runner.invoke(app, ["predict", str(tiny_model), "x", "--threshold", value])
    assert result.exit_code == 2 and "--threshold must be between 0 and 1" in result.stderr


def test_output_is_written_atomically_and_a_missing_dir_is_created(tiny_model, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = runner.invoke(app, ["predict", str(tiny_model), "One.", "Two.", "--output", str(out), "-q"])
    assert result.exit_code == 0
    assert len(jsonl(out.read_text())) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["preds.jsonl"]  # no temp file left behind
    result = runner.invoke(app, ["predict", str(tiny_model), "One.", "--output", str(tmp_path / "new" / "x.jsonl")])
    assert result.exit_code == 0 and len(jsonl((tmp_path / "new" / "x.jsonl").read_text())) == 1


def test_python_api_on_both_model_types(tiny_model, tfidf_model):
    from inference import Prediction, Predictor

    for model_dir in (tiny_model, tfidf_model):
        predictor = Predictor.load(model_dir)
        assert predictor.labels == LABELS
        preds = predictor.predict(["The missile threat is dangerous.", "The ministry agreed to buy radars."])
        assert len(preds) == 2 and all(isinstance(p, Prediction) for p in preds)
        assert all(p.label in LABELS and 0 < p.score <= 1 for p in preds)
        assert predictor.predict("A single string.")[0].text == "A single string."


def test_fp32_labels_equal_the_pipeline(tiny_model, corpus):
    from transformers import pipeline

    from inference import Predictor

    sentences, _ = corpus
    texts = [json.loads(line)["text"] for line in sentences.read_text().splitlines()]
    pipe = pipeline("text-classification", model=str(tiny_model), device="cpu")
    expected = [p["label"] for p in pipe(texts, batch_size=1)]
    assert [p.label for p in Predictor.load(tiny_model).predict(texts, batch_size=7)] == expected


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precisions_run(tiny_model, precision):
    from inference import Predictor

    fp32 = Predictor.load(tiny_model).predict_proba(["The army will deploy troops."])
    low = Predictor.load(tiny_model, precision=precision).predict_proba(["The army will deploy troops."])
    assert low.shape == fp32.shape and abs(low - fp32).max() < 0.1


def test_bf16_stores_linear_weights_in_bf16_with_the_same_logits(tiny_model, monkeypatch):
    """Stored bf16 weights are what autocast would cast to on every call: same logits, half the bytes."""
    import warnings

    import torch

    import stance.model_types.transformer as transformer
    from inference import Predictor

    texts = ["The army will deploy troops.", "Officials said the threat is growing fast.", "No."]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a CPU without native bf16 warns
        stored = Predictor.load(tiny_model, precision="bf16")
        monkeypatch.setattr(transformer, "bf16_linears", lambda model: None)
        cast = Predictor.load(tiny_model, precision="bf16")
    linears = [m for m in stored.model.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert stored.model.model.bert.embeddings.word_embeddings.weight.dtype == torch.float32
    assert next(cast.model.model.classifier.parameters()).dtype == torch.float32
    assert (stored.logits(texts) == cast.logits(texts)).all()


def test_unknown_precision_is_an_error(tiny_model):
    result = runner.invoke(app, ["predict", str(tiny_model), "x", "--precision", "fp8"])
    assert result.exit_code == 2 and "--precision must be one of" in result.stderr


def test_streaming_keeps_input_order(tiny_model):
    from inference import Predictor

    predictor = Predictor.load(tiny_model)
    texts = [f"Sentence number {i} " + "word " * (i % 13) for i in range(50)]
    streamed = [p.text for p in predictor.stream(((t, None) for t in texts), chunk=16)]
    assert streamed == texts


def _tiny(tiny_model):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model), AutoModelForSequenceClassification.from_pretrained(tiny_model)


@pytest.mark.parametrize("pairs", [False, True])
def test_cls_forward_equals_the_full_forward(tiny_model, pairs):
    """The fast path (last layer for [CLS] only) gives the model's own logits, padded batches included."""
    import torch

    from stance.encoding import cls_forward

    tokenizer, model = _tiny(tiny_model)
    model.eval()
    texts = [
        "Drones crossed the border.",
        "Drones crossed the border.",  # same length as the first: one attention call for both
        "The ministry will buy six radars for the northern coast next year.",
        "No.",
    ]
    second = ["Earlier sentence.", "Earlier sentence.", "", "What happened next?"] if pairs else None
    batch = tokenizer(texts, second, padding=True, return_tensors="pt")
    assert not bool(batch["attention_mask"].all())  # the mask path is exercised
    lengths = batch["attention_mask"].sum(1).tolist()
    assert lengths[0] == lengths[1] != lengths[2]  # a run of two, then runs of one
    fast = cls_forward(model)
    assert fast is not None
    with torch.inference_mode():
        assert torch.allclose(fast(**batch), model(**batch).logits, atol=1e-5)


def test_equal_runs_groups_consecutive_equal_lengths_in_order():
    from stance.encoding import _equal_runs

    assert _equal_runs([5, 5, 3, 7, 7, 7, 5]) == [(0, 2, 5), (2, 1, 3), (3, 3, 7), (6, 1, 5)]
    assert _equal_runs([]) == []


def test_cls_forward_declines_other_architectures(tiny_model):
    from stance.encoding import cls_forward

    _, model = _tiny(tiny_model)
    model.config.position_embedding_type = "relative_key"
    assert cls_forward(model) is None


def test_equal_length_batches_and_parallel_workers_give_the_same_logits(tiny_model):
    import numpy as np

    from stance.encoding import length_batches
    from stance.model_types.transformer import TransformerModel

    lengths = [5, 3, 5, 9, 3, 5, 5]
    assert length_batches(lengths, 2) == [[1, 4], [0, 2], [5, 6], [3]]
    tokenizer, model = _tiny(tiny_model)
    texts = [f"Sentence {i} " + "word " * (i % 7) for i in range(40)]
    cfg = {"model": {"max_length": 64}, "data": {"context": 0}}
    one = TransformerModel(model, tokenizer, cfg, workers=1).logits(texts, batch_size=4)
    two = TransformerModel(model, tokenizer, cfg, workers=2).logits(texts, batch_size=4)
    full = model(**tokenizer(texts[:1], return_tensors="pt")).logits.detach().numpy()
    assert np.allclose(one, two, atol=1e-5) and np.allclose(one[:1], full, atol=1e-5)


def test_concurrent_callers_share_a_predictor_without_changing_each_others_threads(tiny_model):
    """Threads are set once at load; a call never changes torch's thread count for its caller (a server's
    request threads), and concurrent calls give the same results as one call alone."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import torch

    from inference import Predictor

    predictor = Predictor.load(tiny_model)
    texts = [f"The missile threat {i} is " + "growing " * (i % 5) for i in range(60)]
    alone = predictor.logits(texts, batch_size=4)
    before = torch.get_num_threads()

    def call(_):
        threads = torch.get_num_threads()
        out = predictor.logits(texts, batch_size=4)
        return threads == torch.get_num_threads(), out

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(8)))
    assert all(same for same, _ in results)
    assert all(np.allclose(out, alone, atol=1e-5) for _, out in results)
    assert torch.get_num_threads() == before


def test_few_mixed_length_sentences_go_in_sorted_padded_chunks_with_the_same_logits(tiny_model):
    """A server's batch of 16 one-sentence requests rarely has two of one length: rather than 16 forward passes,
    the length-sorted sentences are cut into two chunks per worker, padded, with the logits of one at a time."""
    import numpy as np

    from stance.encoding import sorted_chunks
    from stance.model_types.transformer import TransformerModel

    assert sorted_chunks([5, 3, 9, 7], 2, 64) == [[1, 0], [3, 2]]
    assert sorted_chunks([5, 3, 9], 4, 64) == [[1], [0], [2]]
    tokenizer, model = _tiny(tiny_model)
    texts = [f"Sentence {i} " + "word " * i for i in range(16)]  # 16 different lengths
    scorer = TransformerModel(model, tokenizer, {"model": {"max_length": 64}, "data": {"context": 0}}, workers=2)
    together = scorer.logits(texts, batch_size=64)
    alone = np.vstack([scorer.logits([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
