"""Atomic writes: write to a temporary sibling, then rename, so a crash never leaves half a file.

Every failure to write an output (a directory in the way, no permission, a full disk) is a StanceError that
names the path: no traceback, no temp file left behind, and an earlier file at the path stays as it was.
Paths are followed like any Unix tool does: a symlink stays a symlink (its target gets the new content), and
pipes, devices and sockets (/dev/stdout, /dev/null, a FIFO) are written through, since they cannot be renamed over.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from stance.errors import StanceError

# Names of an already open descriptor: the shell may have opened it on a file (`> out`, `>> log`), which a
# rename would silently detach from the process, so these are written through like a pipe.
_FD_ALIAS = re.compile(r"/dev/(stdout|stderr|fd/\d+)|/proc/(self|thread-self|\d+)/fd/\d+")


def _failed(path: Path, exc: OSError) -> StanceError:
    return StanceError(f"cannot write: {exc.strerror or exc}", path=path)


class _RawFile(io.FileIO):
    """The unbuffered layer under the file object that atomic_open yields. A failed write (ENOSPC, EIO, EPIPE)
    becomes a StanceError naming the output here, wherever in the caller's code the write or flush happened,
    while an OSError of the caller's own (reading an input, say) is left alone."""

    output: Path

    def write(self, b):
        try:
            return os.write(self.fileno(), b)  # what FileIO.write does for a blocking descriptor
        except OSError as exc:
            raise _failed(self.output, exc) from None


def _resolve(path: Path) -> tuple[Path, bool]:
    """Where to write and whether to write through (True: not a regular file, so no temp file and no rename)."""
    try:
        mode = os.stat(path).st_mode  # follows symlinks
    except FileNotFoundError:
        mode = None  # missing, or a dangling symlink: its target is created
    except OSError as exc:  # a symlink loop, a file where a directory should be, no permission to look
        raise _failed(path, exc) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise StanceError("is a directory", path=path)
    if (mode is not None and not stat.S_ISREG(mode)) or _FD_ALIAS.fullmatch(os.path.abspath(path)):
        return path, True
    return Path(os.path.realpath(path)), False  # the temp file must sit beside the target, not the link


def _open_through(path: Path) -> int:
    try:
        # O_APPEND: for a device or a pipe it changes nothing; for `>> log` it keeps what is already there.
        return os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        raise _failed(path, exc) from None


def _open_temp(path: Path, target: Path) -> tuple[int, str]:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)  # like `mkdir -p`: the user named where the output goes
    except OSError as exc:
        raise StanceError(f"cannot create directory {parent}: {exc.strerror}", path=path) from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise StanceError(f"cannot write to {parent}: {exc.strerror}", path=path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file should get the usual permissions
    except OSError as exc:
        os.close(fd)
        os.unlink(tmp)
        raise _failed(path, exc) from None
    return fd, tmp


def _wrap(path: Path, fd: int, mode: str, encoding: str | None, newline: str | None) -> IO:
    raw = _RawFile(fd, "w")
    raw.output = path
    try:
        buffered = io.BufferedWriter(raw)
        return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding, newline=newline)
    except BaseException:  # a bad encoding or newline: do not leak the descriptor
        raw.close()
        raise


def _finish(path: Path, fh: IO, tmp: str | None, target: Path) -> None:
    try:
        fh.flush()
        if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            os.fsync(fh.fileno())  # not on a pipe or terminal, where fsync fails with EINVAL
        fh.close()
        if tmp is not None:
            os.replace(tmp, target)
    except OSError as exc:
        raise _failed(path, exc) from None


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO]:
    """Open a temp file next to `path`; on success fsync and rename it over `path`, on error delete it.

    A symlink is followed (the link stays, its target is replaced); a pipe or device is written directly."""
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open only writes a file from the start, not mode {mode!r}")
    path = Path(path)
    target, through = _resolve(path)
    fd, tmp = (_open_through(path), None) if through else _open_temp(path, target)
    fh = None
    try:
        fh = _wrap(path, fd, mode, encoding, newline)
        yield fh
        _finish(path, fh, tmp, target)
    except BaseException:  # the caller's own exception (KeyboardInterrupt, ValueError...) goes on unchanged
        if fh is not None:
            with contextlib.suppress(Exception):  # flushing into a full disk again must not hide the first error
                fh.close()
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def write_json(path: str | Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def _swap(path: Path, target: Path, tmp: Path) -> None:
    """Put `tmp` where `target` is; the old dir is moved aside first and put back if the second rename fails."""
    old = target.with_name(f".{target.name}.old")
    moved = False
    try:
        if target.is_dir():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            moved = True
        try:
            os.replace(tmp, target)
        except OSError:
            if moved:
                os.replace(old, target)
            raise
    except OSError as exc:
        raise _failed(path, exc) from None
    if moved:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temp name; on success swap it in for `path` (the old one is kept until then).

    A symlink to a directory is followed, so the link stays; anything else already at `path` is refused."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    if os.path.lexists(target) and not target.is_dir():
        raise StanceError("exists and is not a directory", path=path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise StanceError(f"cannot write to {target.parent}: {exc.strerror}", path=path) from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700: others could not read a shared model dir
        yield tmp
        _swap(path, target, tmp)
    except OSError as exc:  # writing the dir's files failed (a full disk, say): one line, earlier dir kept
        shutil.rmtree(tmp, ignore_errors=True)
        raise _failed(path, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
