"""Evaluation on held-out labeled data: metrics with bootstrap intervals, calibration, and a report
(metrics.json, confusion_matrix.png, reliability.png, errors.jsonl, report.md) a person can read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stance import metrics as M
from stance.atomic import atomic_dir, write_json, write_text
from stance.data import SPLITS, load_corpus, load_dev_real, load_labeled, with_context
from stance.errors import StanceError
from stance.modeldir import read_meta

BOOTSTRAP_SAMPLES = 1000
TABLE_FORMATS = ("table", "json")


@dataclass
class EvalOptions:
    """How labeled files are read (for `evaluate` and `compare`) and whether `evaluate` writes a report."""

    text_field: str = "text"
    label_field: str = "label"
    skip_unknown: bool = False  # skip rows whose label the model does not know, instead of stopping
    report: Path | None = None  # a report directory to write: metrics, plots, errors, markdown


def load_eval_rows(model_dir: Path, data: list[Path], labels: list[str], o: EvalOptions) -> list[dict]:
    """Rows with `text`, `gold`, `context` (previous sentence of the same article when known), `_source`.
    'test', 'validation' and 'dev_real' (when no such file exists) name the model's own corpus splits."""
    rows: list[dict] = []
    for path in data:
        if str(path) in (*SPLITS, "dev_real") and not path.exists():
            rows += _corpus_split(model_dir, str(path), labels)
            continue
        records = load_labeled(path, labels, o.text_field, o.label_field, o.skip_unknown)
        for r, context in with_context(records, o.text_field):
            rows.append(
                {
                    **r,
                    "text": r[o.text_field],
                    "gold": r[o.label_field],
                    "context": context,
                    "_source": f"{path}:{r['_line']}",
                }
            )
    if not rows:
        raise StanceError("no rows to evaluate")
    return rows


def _corpus_split(model_dir: Path, split: str, labels: list[str]) -> list[dict]:
    """A split of the model's own corpus, or its real-text dev set (`dev_real`), as evaluation rows."""
    from stance.config import load_config

    meta = read_meta(model_dir)
    d = meta["config"]["data"]
    dev = d.get("dev_real", "")
    cfg = load_config(None, [f"data.sentences={d['sentences']}", f"data.splits={d['splits']}", f"data.dev_real={dev}"])
    cfg.labels = labels
    if split == "dev_real":
        if not dev:
            raise StanceError("the model's config names no dev set (data.dev_real)", path=model_dir)
        rows, source = load_dev_real(cfg), dev
    else:
        rows, source = load_corpus(cfg)[split], d["sentences"]
    return [{**r, "gold": r[cfg.data.label_field], "_source": f"{source}:{r['_line']}"} for r in rows]


def score(gold: list[str], pred: list[str], probs, labels: list[str], seed: int = 0) -> dict:
    """All metrics of one model on one set of rows."""
    conf = probs.max(1).tolist()
    correct = [g == p for g, p in zip(gold, pred, strict=True)]
    per = M.per_class(gold, pred, labels)
    return {
        "n": len(gold),
        "labels": labels,
        "accuracy": M.accuracy(gold, pred),
        "accuracy_ci": list(M.bootstrap_ci(gold, pred, M.accuracy, BOOTSTRAP_SAMPLES, seed)),
        "macro_f1": M.macro_f1(gold, pred, labels),
        "macro_f1_ci": list(M.bootstrap_ci(gold, pred, lambda g, p: M.macro_f1(g, p, labels), BOOTSTRAP_SAMPLES, seed)),
        "per_class": per,
        "confusion_matrix": M.confusion_matrix(gold, pred, labels),
        "ece": M.expected_calibration_error(conf, correct),
        "reliability": M.reliability_bins(conf, correct),
    }


def run_evaluate(model_dir: Path, data: list[Path], o: EvalOptions) -> dict:
    """Metrics of the model on the labeled `data`, with bootstrap intervals; writes `o.report` if set."""
    meta = read_meta(model_dir)
    labels = meta["labels"]
    rows = load_eval_rows(model_dir, data, labels, o)
    from inference.predictor import Predictor

    predictor = Predictor.load(model_dir)
    probs = predictor.predict_proba([r["text"] for r in rows], [r["context"] for r in rows])
    pred = [labels[i] for i in probs.argmax(1)]
    gold = [r["gold"] for r in rows]
    result = {"model": str(model_dir), "data": [str(d) for d in data], **score(gold, pred, probs, labels)}
    if o.report is not None:
        write_report(o.report, result, rows, pred, probs)
    return result


def render_table(r: dict) -> str:
    labels = r["labels"]
    lines = [
        f"n={r['n']}  accuracy {r['accuracy']:.3f} [{r['accuracy_ci'][0]:.3f}, {r['accuracy_ci'][1]:.3f}]  "
        f"macro-F1 {r['macro_f1']:.3f} [{r['macro_f1_ci'][0]:.3f}, {r['macro_f1_ci'][1]:.3f}]  ECE {r['ece']:.3f}",
        "",
        f"{'label':<18} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}",
    ]
    for lab in labels:
        c = r["per_class"][lab]
        lines.append(f"{lab:<18} {c['precision']:>9.3f} {c['recall']:>7.3f} {c['f1']:>6.3f} {c['support']:>8}")
    width = max(len(lab) for lab in labels)
    lines += [
        "",
        "confusion matrix (rows: gold, columns: predicted)",
        " " * (width + 2) + " ".join(f"{lab[:10]:>10}" for lab in labels),
    ]
    for lab, row in zip(labels, r["confusion_matrix"], strict=True):
        lines.append(f"{lab:<{width}}  " + " ".join(f"{v:>10}" for v in row))
    return "\n".join(lines)


def write_report(out: Path, result: dict, rows: list[dict], pred: list[str], probs) -> None:
    """The report directory: metrics.json, confusion_matrix.png, reliability.png, errors.jsonl, report.md."""
    import matplotlib

    matplotlib.use("Agg")
    labels = result["labels"]
    errors = []  # most confident first
    for r, p, pr in zip(rows, pred, probs, strict=True):
        if p != r["gold"]:
            errors.append(
                {
                    "source": r["_source"],
                    "text": r["text"],
                    "gold": r["gold"],
                    "predicted": p,
                    "score": round(float(pr.max()), 4),
                    "probs": {lab: round(float(x), 4) for lab, x in zip(labels, pr, strict=True)},
                }
            )
    errors.sort(key=lambda e: -e["score"])
    with atomic_dir(out) as tmp:
        write_json(tmp / "metrics.json", result)
        _plot_confusion(result, tmp / "confusion_matrix.png")
        _plot_reliability(result, tmp / "reliability.png")
        write_text(tmp / "errors.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors))
        write_text(tmp / "report.md", report_markdown(result, errors))


def _plot_confusion(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    labels, cm = result["labels"], result["confusion_matrix"]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = max(max(row) for row in cm) or 1
    for i, row in enumerate(cm):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    ax.set_title(f"confusion matrix (n={result['n']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_reliability(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    bins = [b for b in result["reliability"] if b["n"]]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    centres = [(b["lo"] + b["hi"]) / 2 for b in bins]
    ax.bar(centres, [b["accuracy"] for b in bins], width=0.09, alpha=0.7, label="accuracy in bin")
    ax.plot(
        [b["confidence"] for b in bins],
        [b["accuracy"] for b in bins],
        "o-",
        color="C3",
        label="mean confidence vs accuracy",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {result['ece']:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report_markdown(r: dict, errors: list[dict]) -> str:
    labels = r["labels"]
    lines = [
        f"# Evaluation of `{r['model']}`",
        "",
        f"Data: {', '.join(f'`{d}`' for d in r['data'])} ({r['n']} sentences)",
        "",
        "| metric | value | 95% bootstrap interval |",
        "|---|---|---|",
        f"| accuracy | {r['accuracy']:.3f} | {r['accuracy_ci'][0]:.3f} – {r['accuracy_ci'][1]:.3f} |",
        f"| macro-F1 | {r['macro_f1']:.3f} | {r['macro_f1_ci'][0]:.3f} – {r['macro_f1_ci'][1]:.3f} |",
        f"| expected calibration error | {r['ece']:.3f} | |",
        "",
        "## Per class",
        "",
        "| label | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for lab in labels:
        c = r["per_class"][lab]
        lines.append(f"| {lab} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    lines += [
        "",
        "## Confusion matrix",
        "",
        "Rows are gold labels, columns predicted.",
        "",
        "| gold \\ predicted | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for lab, row in zip(labels, r["confusion_matrix"], strict=True):
        lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
    lines += [
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "## Calibration",
        "",
        "Each bar is the accuracy of the predictions whose top probability falls in that bin; a calibrated "
        "model's bars follow the diagonal.",
        "",
        "![reliability diagram](reliability.png)",
        "",
        f"## Most confident errors ({len(errors)} errors in all; every one is in `errors.jsonl`)",
        "",
        "| score | gold | predicted | text |",
        "|---|---|---|---|",
    ]
    for e in errors[:15]:
        text = e["text"].replace("|", "\\|")
        lines.append(f"| {e['score']:.2f} | {e['gold']} | {e['predicted']} | {text} |")
    return "\n".join(lines) + "\n"


def paired_bootstrap_diff(
    gold: list[str],
    pred_a: list[str],
    pred_b: list[str],
    labels: list[str],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """95% interval of macro-F1(b) - macro-F1(a), resampling the same rows for both models."""

    def diff(idx: list[int]) -> float:
        g = [gold[i] for i in idx]
        return M.macro_f1(g, [pred_b[i] for i in idx], labels) - M.macro_f1(g, [pred_a[i] for i in idx], labels)

    return M.bootstrap_interval(len(gold), diff, samples, seed)


def run_compare(model_dirs: list[Path], data: Path, o: EvalOptions) -> list[dict]:
    """Several models on the same rows; each model's macro-F1 difference from the first, with a paired
    bootstrap interval (an interval that excludes 0 means the difference is unlikely to be noise)."""
    if len(model_dirs) < 2:
        raise StanceError("compare needs at least two model directories")
    metas = [read_meta(d) for d in model_dirs]
    labels = metas[0]["labels"]
    for d, meta in zip(model_dirs[1:], metas[1:], strict=True):
        if sorted(meta["labels"]) != sorted(labels):
            raise StanceError(f"labels differ from {model_dirs[0]}'s ({', '.join(meta['labels'])})", path=d)
    rows = load_eval_rows(model_dirs[0], [data], labels, o)
    gold = [r["gold"] for r in rows]
    from inference.predictor import Predictor

    preds = []
    for d in model_dirs:
        predictor = Predictor.load(d)
        probs = predictor.predict_proba([r["text"] for r in rows], [r["context"] for r in rows])
        preds.append([predictor.labels[i] for i in probs.argmax(1)])
    results = []
    for d, pred in zip(model_dirs, preds, strict=True):
        entry = {
            "model": str(d),
            "n": len(gold),
            "accuracy": M.accuracy(gold, pred),
            "macro_f1": M.macro_f1(gold, pred, labels),
            "macro_f1_ci": list(M.bootstrap_ci(gold, pred, lambda g, p: M.macro_f1(g, p, labels))),
        }
        if results:
            entry["diff_vs_first"] = entry["macro_f1"] - results[0]["macro_f1"]
            entry["diff_ci"] = list(paired_bootstrap_diff(gold, preds[0], pred, labels))
        results.append(entry)
    return results


def render_compare(results: list[dict]) -> str:
    lines = [f"{'model':<40} {'accuracy':>8} {'macro-F1':>8}  {'95% CI':<15} {'Δ vs first':>10}  {'95% CI of Δ':<17}"]
    for e in results:
        ci = f"[{e['macro_f1_ci'][0]:.3f}, {e['macro_f1_ci'][1]:.3f}]"
        diff = (
            f"{e['diff_vs_first']:+10.3f}  [{e['diff_ci'][0]:+.3f}, {e['diff_ci'][1]:+.3f}]" if "diff_ci" in e else ""
        )
        lines.append(f"{e['model'][-40:]:<40} {e['accuracy']:>8.3f} {e['macro_f1']:>8.3f}  {ci:<15} {diff}")
    return "\n".join(lines)
