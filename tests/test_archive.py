"""Labelling an archive of shards (inference.archive): local and Ray engines give the same files as a single-file
`stance predict`, resume at the shard level after a killed run, Parquet in and out; the synthetic archive
generator (stance.synth) and `stance trends` over its labelled output."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import check_user_error
from typer.testing import CliRunner

from inference.archive import MANIFEST, ArchiveOptions, label_archive
from stance.cli import app
from stance.data import read_records
from stance.synth import SynthOptions, synth_archive

runner = CliRunner()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, corpus) -> Path:
    """3 JSONL shards, 300 sentences, built from the synthetic test corpus."""
    sentences, _ = corpus
    rows = [row for _, row in read_records(sentences)]
    out = tmp_path_factory.mktemp("archive") / "in"
    synth_archive(rows, SynthOptions(out=out, sentences=300, shards=3, seed=3))
    return out


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != MANIFEST}


def label(model: Path, source, out: Path, **kw):
    return label_archive(model, ArchiveOptions(input=str(source), output=out, quiet=True, **kw))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, archive) -> Path:
    """The archive labelled by the local engine, uninterrupted."""
    out = tmp_path_factory.mktemp("reference") / "out"
    result = label(tiny_model, archive, out)
    assert (result.labelled, result.skipped, result.sentences) == (3, 0, 300)
    return out


# ------------------------------------------------------------------------------------------------ synth


def test_synth_archive_is_whole_articles_in_date_order(archive, corpus):
    shards = sorted(archive.iterdir())
    assert [p.name for p in shards] == ["shard-0000.jsonl", "shard-0001.jsonl", "shard-0002.jsonl"]
    rows = [json.loads(line) for p in shards for line in p.read_text().splitlines()]
    assert len(rows) == 300
    assert all({"id", "article_id", "date", "source", "actor", "index", "text"} == set(r) for r in rows)  # no label
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)  # shards are consecutive slices of time
    by_article: dict[str, list[int]] = {}
    for r in rows:
        by_article.setdefault(r["article_id"], []).append(r["index"])
    assert all(ix == list(range(len(ix))) for ix in by_article.values())  # whole, in order: context works
    texts = {json.loads(line)["text"] for line in corpus[0].read_text().splitlines()}
    assert {r["text"] for r in rows} <= texts  # built from the corpus
    again = synth_archive(
        [row for _, row in read_records(corpus[0])],
        SynthOptions(out=archive.parent / "again", sentences=300, shards=3, seed=3),
    )
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in shards]  # deterministic


def test_synth_cli_parquet(tmp_path, corpus):
    out = tmp_path / "pq"
    args = ["data", "synth", str(out), "--corpus", str(corpus[0]), "--sentences", "50", "--shards", "2"]
    result = runner.invoke(app, [*args, "--format", "parquet"])
    assert result.exit_code == 0, result.output
    rows = [row for p in sorted(out.iterdir()) for _, row in read_records(p)]
    assert len(rows) == 50 and sorted(out.iterdir())[0].suffix == ".parquet"
    check_user_error(["data", "synth", str(tmp_path / "x"), "--corpus", str(corpus[0]), "--start", "May"], "--start")


# ------------------------------------------------------------------------------------------------ local engine


def test_each_shard_equals_a_single_file_predict(tiny_model, archive, reference, tmp_path):
    for shard in sorted(archive.iterdir()):
        single = tmp_path / shard.name
        result = runner.invoke(app, ["predict", str(tiny_model), "-i", str(shard), "-o", str(single), "-q"])
        assert result.exit_code == 0, result.output
        assert (reference / shard.name).read_bytes() == single.read_bytes()
    manifest = json.loads((reference / MANIFEST).read_text())
    assert sorted(manifest["shards"]) == [p.name for p in sorted(archive.iterdir())]
    assert sum(e["records"] for e in manifest["shards"].values()) == 300


def test_glob_and_cli(tiny_model, archive, reference, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", str(tiny_model), "-i", str(archive / "*.jsonl"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 shards (300 sentences" in result.stderr and "0 already complete" in result.stderr
    assert outputs(out) == outputs(reference)
    result = runner.invoke(app, ["predict", str(tiny_model), "-i", str(archive / "*.jsonl"), "-o", str(out)])
    assert "0 shards (0 sentences" in result.stderr and "3 already complete" in result.stderr


def test_resume_redoes_only_what_is_missing(tiny_model, archive, reference, tmp_path):
    """Every state a killed run can leave: shards recorded, a shard written but not recorded, a half-written
    temp file, a shard whose input changed since. The rerun labels only those and ends identical."""
    out = tmp_path / "out"
    label(tiny_model, archive, out)
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["shards"]["shard-0001.jsonl"]  # written, then killed before the manifest was updated
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "shard-0002.jsonl").write_bytes((out / "shard-0002.jsonl").read_bytes()[:100])  # damaged
    (out / ".shard-0002.jsonl.abc123.tmp").write_text("half a shard")
    done = []
    result = label_archive(
        tiny_model, ArchiveOptions(input=str(archive), output=out, quiet=True), on_shard=lambda e: done.append(e)
    )
    assert (result.labelled, result.skipped) == (2, 1)
    assert sorted(e["output"] for e in done) == ["shard-0001.jsonl", "shard-0002.jsonl"]
    assert outputs(out) == outputs(reference)  # and the stray temp file is gone


def test_changed_settings_or_input_relabel(tiny_model, archive, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for p in archive.iterdir():
        (src / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    label(tiny_model, src, out)
    lines = (src / "shard-0000.jsonl").read_text().splitlines()
    (src / "shard-0000.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # the input changed
    assert label(tiny_model, src, out).labelled == 1
    assert len((out / "shard-0000.jsonl").read_text().splitlines()) == len(lines) - 1
    assert label(tiny_model, src, out, threshold=0.9).labelled == 3  # another setting: nothing counts


def test_killed_run_then_rerun_is_identical(tiny_model, archive, reference, tmp_path):
    """A real SIGKILL wherever it lands (after the first shard is recorded, if the run gets that far)."""
    src = tmp_path / "in"
    src.mkdir()
    for copy in range(4):  # 12 shards, so the kill lands mid-run
        for p in archive.iterdir():
            (src / f"c{copy}-{p.name}").write_bytes(p.read_bytes())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "stance", "predict", str(tiny_model), "-i", str(src), "-o", str(out), "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / MANIFEST).exists() and json.loads((out / MANIFEST).read_text())["shards"]:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    result = label(tiny_model, src, out)
    assert result.labelled + result.skipped == 12
    for name, data in outputs(out).items():
        assert data == (reference / name.split("-", 1)[1]).read_bytes(), name
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_parquet_round_trip(tiny_model, archive, reference, tmp_path):
    import pyarrow.parquet as pq

    pq_in = tmp_path / "pq"
    result = runner.invoke(
        app, ["data", "synth", str(pq_in), "--corpus", str(tmp_path / "c.jsonl"), "--sentences", "10"]
    )  # the corpus is missing: an error, not a crash
    assert result.exit_code == 2
    pq_in.mkdir()
    for p in sorted(archive.iterdir()):  # the same records as Parquet
        rows = [row for _, row in read_records(p)]
        import pyarrow as pa

        pq.write_table(pa.Table.from_pylist(rows), pq_in / f"{p.stem}.parquet")
    out = tmp_path / "out"
    label(tiny_model, pq_in, out)
    assert sorted(outputs(out)) == ["shard-0000.parquet", "shard-0001.parquet", "shard-0002.parquet"]
    for name in outputs(out):
        got = pq.read_table(out / name).to_pylist()
        want = [json.loads(line) for line in (reference / name.replace(".parquet", ".jsonl")).read_text().splitlines()]
        assert got == want  # every input field, then label, score and probs: the JSONL records, as Parquet
    jsonl_out = tmp_path / "as-jsonl"
    label(tiny_model, pq_in, jsonl_out, fmt="jsonl")
    assert outputs(jsonl_out) == outputs(reference)


def test_archive_errors(tiny_model, archive, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jsonl").write_text('{"text": "fine"}\n{"text": 7}\n')
    base = ["predict", str(tiny_model), "-q"]
    check_user_error([*base, "-i", str(bad), "-o", str(tmp_path / "o")], "a.jsonl:2", "must be a string")
    check_user_error([*base, "-i", str(tmp_path / "none" / "*.jsonl"), "-o", str(tmp_path / "o")], "matches no input")
    check_user_error([*base, "-i", str(archive)], "--output")
    check_user_error([*base, "-i", str(archive), "-o", str(tmp_path / "o"), "--format", "html"], "--format")
    check_user_error([*base, "-i", str(archive), "-o", str(tmp_path / "o"), "--engine", "spark"], "--engine")
    (tmp_path / "file").write_text("x")
    check_user_error([*base, "-i", str(archive), "-o", str(tmp_path / "file")], "must be a folder")


def test_missing_ray_is_one_line(tiny_model, archive, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    line = check_user_error(
        ["predict", str(tiny_model), "-i", str(archive), "-o", str(tmp_path / "o"), "--engine", "ray", "-q"]
    )
    assert "pip install '.[ray]'" in line and "make setup-ray" in line


# ------------------------------------------------------------------------------------------------ ray engine


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_equals_local_and_resumes(ray_local, tiny_model, archive, reference, tmp_path):
    out = tmp_path / "ray"
    result = label(tiny_model, archive, out, engine="ray", actors=2)
    assert (result.labelled, result.sentences, result.engine) == (3, 300, "ray")
    assert outputs(out) == outputs(reference)  # byte for byte: same labels, scores and passed-through fields
    manifest = json.loads((out / MANIFEST).read_text())
    del manifest["shards"]["shard-0000.jsonl"]
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "shard-0002.jsonl").unlink()
    result = label(tiny_model, archive, out, engine="ray", actors=2)
    assert (result.labelled, result.skipped) == (2, 1)
    assert outputs(out) == outputs(reference)


def test_pool_shape():
    from inference.archive import _pool_shape

    assert _pool_shape(cores=2, per_node=2, shards=20, actors=None) == (1, 2)  # this machine: one model copy
    assert _pool_shape(cores=64, per_node=16, shards=20, actors=None) == (4, 16)  # a cluster: one per node
    assert _pool_shape(cores=64, per_node=16, shards=2, actors=None) == (2, 16)  # never more than shards
    assert _pool_shape(cores=2, per_node=2, shards=20, actors=2) == (2, 1)  # asked for: cores split
    assert _pool_shape(cores=2, per_node=2, shards=20, actors=4) == (4, 1)


def test_ray_default_pool_equals_local(ray_local, tiny_model, archive, reference, tmp_path):
    out = tmp_path / "ray"
    label(tiny_model, archive, out, engine="ray")
    assert outputs(out) == outputs(reference)


def test_ray_bad_line_is_one_line(ray_local, tiny_model, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jsonl").write_text('{"text": "fine"}\n')
    (bad / "b.jsonl").write_text('{"text": "fine"}\n{"txt": "x"}\n')
    check_user_error(
        ["predict", str(tiny_model), "-i", str(bad), "-o", str(tmp_path / "o"), "--engine", "ray", "-q"],
        "b.jsonl:2",
        "missing field 'text'",
    )


# ------------------------------------------------------------------------------------------------ trends


def test_trends_csv_is_checked_against_the_records(reference, tmp_path):
    rows = [json.loads(line) for p in sorted(reference.glob("*.jsonl")) for line in p.read_text().splitlines()]
    rows[0].pop("date")  # one record without a date: counted and reported, not silently dropped
    rows[1]["date"] = "sometime"
    folder = tmp_path / "preds"
    folder.mkdir()
    (folder / "all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "trends.csv"
    result = runner.invoke(app, ["trends", str(folder), "--by", "month", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "298 records" in result.stderr and "2 records without a usable 'date'" in result.stderr
    table = list(csv.DictReader(out.open()))
    months = sorted({r["date"][:7] for r in rows[2:]})
    labels = sorted({r["label"] for r in rows[2:]})
    assert [r["month"] for r in table] == [m for m in months for _ in labels]
    for r in table:
        members = [x for x in rows[2:] if x["date"][:7] == r["month"]]
        assert int(r["n"]) == len(members)
        assert int(r["count"]) == sum(x["label"] == r["label"] for x in members)
        assert float(r["share"]) == round(int(r["count"]) / int(r["n"]), 4)
        assert float(r["lo"]) <= float(r["share"]) <= float(r["hi"])
    assert sum(int(r["count"]) for r in table) == 298


def test_trends_intervals_resample_whole_articles(tmp_path):
    """20 articles of 10 sentences, each article all one label (10 of each): sentence by sentence the share's
    interval is about +-0.07; article by article (20 independent draws) about +-0.22. Shares are the same."""
    from stance.trends import TrendOptions, compute_trends

    rows = [
        {"article_id": f"a{a}", "date": "2025-03-01", "label": "threat" if a < 10 else "other", "text": "t"}
        for a in range(20)
        for _ in range(10)
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def width(**kw):
        trends = compute_trends(path, TrendOptions(resamples=2000, **kw))
        share, lo, hi = trends.cell("2025-03", "threat")
        assert share == 0.5 and lo < share < hi
        return hi - lo

    by_article, by_sentence = width(), width(article_field="")
    assert 0.3 < by_article < 0.55 and 0.1 < by_sentence < 0.18, (by_article, by_sentence)
    for r in rows:  # every sentence its own article: the sentence-level interval again
        r["article_id"] = f"{r['article_id']}-{id(r)}"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert abs(width() - by_sentence) < 0.03


def test_trends_by_source_png_html_and_table(reference, tmp_path):
    for name in ("t.png", "t.html"):
        result = runner.invoke(
            app, ["trends", str(reference / "*.jsonl"), "--by", "source", "-o", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "t.html").read_text()
    sources = {json.loads(line)["source"] for p in reference.glob("*.jsonl") for line in p.read_text().splitlines()}
    assert "data:image/png;base64," in page and all(source in page for source in sources)
    result = runner.invoke(app, ["trends", str(reference), "--by", "week"])
    assert result.exit_code == 0 and "300 records" in result.output and "-W" in result.output
    table = runner.invoke(app, ["trends", str(reference), "--by", "source"]).output.splitlines()[:-1]
    assert len({len(line) for line in table}) == 1, table  # columns line up, however long a source's name
    check_user_error(["trends", str(reference), "--by", "colour"], "--by")
    check_user_error(["trends", str(reference), "-o", str(tmp_path / "t.txt")], "--output")
    (tmp_path / "unlabelled.jsonl").write_text('{"text": "a", "date": "2025-01-01"}\n')
    check_user_error(["trends", str(tmp_path / "unlabelled.jsonl")], "unlabelled.jsonl:1", "label")
