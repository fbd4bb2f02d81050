"""Split-archive encoders (mpnet): the pieces are joined and verified before anything is used."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance import encoders
from stance.cli import app
from stance.config import resolve_encoder
from stance.errors import StanceError

runner = CliRunner()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def fake(tmp_path) -> tuple[encoders.SplitArchive, list[Path]]:
    """A small model dir zipped and cut into three pieces, with the spec that describes it."""
    weights = bytes(range(256)) * 400
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fake-encoder/config.json", json.dumps({"model_type": "bert"}))
        zf.writestr("fake-encoder/model.safetensors", weights)
        zf.writestr("fake-encoder/desktop.ini", "x")
        zf.writestr("elsewhere/ignored.txt", "not part of the model")
    data = buf.getvalue()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    pieces = []
    for i in range(3):
        p = tmp_path / "site" / f"part_{i + 1}" / f"fake.zip.00{i + 1}"
        p.parent.mkdir(parents=True)
        p.write_bytes(data[cut[i] : cut[i + 1]])
        pieces.append(p)
    spec = encoders.SplitArchive(
        name="fake-encoder",
        packages=("fake-part-1", "fake-part-2", "fake-part-3"),
        pieces=tuple(str(p) for p in pieces),
        piece_sizes=tuple(p.stat().st_size for p in pieces),
        zip_sha256=_sha(data),
        weights_size=len(weights),
        weights_sha256=_sha(weights),
    )
    return spec, pieces


def test_install_joins_verifies_and_reuses(tmp_path, fake, monkeypatch):
    spec, pieces = fake
    cache = tmp_path / "cache"
    path, done = encoders.install_encoder(spec, pieces, cache)
    assert done and path == cache / "encoders" / "fake-encoder"
    assert sorted(p.name for p in path.iterdir()) == [encoders.MARKER, "config.json", "model.safetensors"]
    monkeypatch.setitem(encoders.ARCHIVES, "fake", spec)
    assert encoders.installed_dir("fake", cache) == path
    assert encoders.install_encoder(spec, pieces, cache) == (path, False)  # verified, nothing to redo
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_a_truncated_piece_is_rejected_and_nothing_is_installed(tmp_path, fake, monkeypatch):
    spec, pieces = fake
    pieces[1].write_bytes(pieces[1].read_bytes()[:-10])
    cache = tmp_path / "cache"
    with pytest.raises(StanceError, match="piece 2 of fake-encoder is .* bytes, expected .*truncated"):
        encoders.install_encoder(spec, pieces, cache)
    monkeypatch.setitem(encoders.ARCHIVES, "fake", spec)
    with pytest.raises(StanceError, match="not installed"):
        encoders.installed_dir("fake", cache)


def test_a_corrupt_piece_of_the_right_size_fails_the_checksum(tmp_path, fake):
    spec, pieces = fake
    data = bytearray(pieces[2].read_bytes())
    data[5] ^= 0xFF
    pieces[2].write_bytes(bytes(data))
    with pytest.raises(StanceError, match="SHA-256"):
        encoders.install_encoder(spec, pieces, tmp_path / "cache")
    assert not (tmp_path / "cache" / "encoders" / "fake-encoder").exists()


def test_a_damaged_install_is_never_used_and_is_redone(tmp_path, fake, monkeypatch):
    spec, pieces = fake
    cache = tmp_path / "cache"
    path, _ = encoders.install_encoder(spec, pieces, cache)
    monkeypatch.setitem(encoders.ARCHIVES, "fake", spec)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # e.g. a disk that filled up
    with pytest.raises(StanceError, match="run `make setup-accurate`"):
        encoders.installed_dir("fake", cache)
    # same size, wrong bytes: only the full check at setup sees it, and redoes the install
    path, _ = encoders.install_encoder(spec, pieces, cache, force=True)
    good = weights.read_bytes()
    weights.write_bytes(bytes(len(good)))
    path, done = encoders.install_encoder(spec, pieces, cache)
    assert done and weights.read_bytes() == good
    (path / encoders.MARKER).unlink()  # interrupted before the marker: not installed
    with pytest.raises(StanceError, match="not installed"):
        encoders.installed_dir("fake", cache)


def test_mpnet_alias_without_setup_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("STANCE_CACHE", str(tmp_path / "empty"))
    with pytest.raises(StanceError, match="encoder 'mpnet' is not installed.*make setup-accurate"):
        resolve_encoder("mpnet")
    result = runner.invoke(app, ["train", "configs/mpnet.yaml", "-o", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "make setup-accurate" in result.output


def test_mpnet_spec_matches_the_published_archive():
    spec = encoders.MPNET
    assert spec.zip_size == 404_421_332 and len(spec.packages) == 5
    assert spec.weights_size == 437_971_872
    assert spec.weights_sha256.startswith("78c0197b") and spec.weights_sha256.endswith("05615658")
