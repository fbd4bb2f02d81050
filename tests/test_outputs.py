"""Outputs that cannot be written are one-line StanceErrors; special files are written through, not replaced."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from stance.atomic import atomic_dir, atomic_open, write_json, write_text
from stance.errors import StanceError

OLD = b"earlier content\n"
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def check_refused(exc: pytest.ExceptionInfo, path: Path, reason: str) -> None:
    message = str(exc.value)
    assert str(path) in message and reason in message and "\n" not in message
    assert "--output" not in message


def test_existing_directory_is_refused(tmp_path):
    out = tmp_path / "out"
    (out / "inner").mkdir(parents=True)
    with pytest.raises(StanceError) as exc:
        write_text(out, "x")
    check_refused(exc, out, "is a directory")
    assert out.is_dir() and [p.name for p in out.iterdir()] == ["inner"]
    assert temps(tmp_path) == []


def test_missing_parent_is_created(tmp_path):
    out = tmp_path / "a" / "b" / "out.json"
    write_json(out, {"k": 1})
    assert out.read_text() == '{\n  "k": 1\n}\n'
    assert temps(out.parent) == []


def test_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_bytes(OLD)
    out = tmp_path / "file" / "out.txt"
    with pytest.raises(StanceError) as exc:
        write_text(out, "x")
    check_refused(exc, out, "Not a directory")
    assert (tmp_path / "file").read_bytes() == OLD
    assert temps(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_parent_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    out = ro / "out.txt"
    out.write_bytes(OLD)
    ro.chmod(0o500)
    try:
        with pytest.raises(StanceError) as exc:
            write_text(out, "new")
    finally:
        ro.chmod(0o700)
    check_refused(exc, out, "Permission denied")
    assert out.read_bytes() == OLD and temps(ro) == []


def test_missing_parent_that_cannot_be_created_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "new" / "out.txt"

    def no_mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", no_mkdir)
    with pytest.raises(StanceError) as exc:
        write_text(out, "x")
    check_refused(exc, out, "Permission denied")
    assert "cannot create directory" in str(exc.value)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("where", ["fsync", "write", "replace"])
def test_full_disk_is_refused_and_the_earlier_file_kept(tmp_path, monkeypatch, where):
    out = tmp_path / "out.txt"
    out.write_bytes(OLD)

    def fail(*args, **kwargs):
        raise ENOSPC

    monkeypatch.setattr(os, where, fail)  # os.write: where every buffered or text write of the file ends up
    with pytest.raises(StanceError) as exc:
        write_text(out, "new content")
    monkeypatch.undo()
    check_refused(exc, out, "No space left on device")
    assert out.read_bytes() == OLD and temps(tmp_path) == []


def test_full_disk_inside_the_with_block_is_a_stance_error(tmp_path, monkeypatch):
    """A write that fails in the caller's own code (a large write goes straight to the disk) is still ours."""
    out = tmp_path / "out.bin"
    out.write_bytes(OLD)

    def fail(*args):
        raise ENOSPC

    with pytest.raises(StanceError) as exc, atomic_open(out, "wb") as fh:
        fh.write(b"a" * 10)
        monkeypatch.setattr(os, "write", fail)
        fh.write(b"b" * (1 << 20))
    monkeypatch.undo()
    check_refused(exc, out, "No space left on device")
    assert out.read_bytes() == OLD and temps(tmp_path) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError, FileNotFoundError])
def test_callers_exception_propagates_and_earlier_file_kept(tmp_path, error):
    out = tmp_path / "out.txt"
    out.write_bytes(OLD)
    with pytest.raises(error), atomic_open(out) as fh:
        fh.write("half")
        raise error("stop")  # an OSError of the caller's own (not a write to `out`) is not ours to reword
    assert out.read_bytes() == OLD and temps(tmp_path) == []


def test_symlink_to_a_file_stays_a_link(tmp_path):
    real = tmp_path / "data" / "real.txt"
    real.parent.mkdir()
    real.write_bytes(OLD)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "new"
    assert temps(tmp_path) == [] and temps(real.parent) == []


def test_relative_symlink_in_another_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "real.txt").write_bytes(OLD)
    link = tmp_path / "link.txt"
    link.symlink_to(Path("d") / "real.txt")
    write_text(link, "new")
    assert link.is_symlink() and (tmp_path / "d" / "real.txt").read_text() == "new"


def test_dangling_symlink_creates_its_target(tmp_path):
    real = tmp_path / "sub" / "real.txt"  # the target's directory is missing too
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert temps(tmp_path) == [] and temps(real.parent) == []


def test_symlink_to_a_directory_is_refused(tmp_path):
    (tmp_path / "dir").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "dir")
    with pytest.raises(StanceError) as exc:
        write_text(link, "x")
    check_refused(exc, link, "is a directory")
    assert link.is_symlink() and list((tmp_path / "dir").iterdir()) == [] and temps(tmp_path) == []


def test_symlink_loop_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(StanceError) as exc:
        write_text(a, "x")
    check_refused(exc, a, "Too many levels of symbolic links")
    assert a.is_symlink() and b.is_symlink() and temps(tmp_path) == []


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_text(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert got == ["through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and temps(tmp_path) == []


def test_fifo_whose_reader_is_gone_is_refused(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    opened = threading.Event()

    def read_nothing():
        fd = os.open(fifo, os.O_RDONLY)
        opened.set()
        os.close(fd)

    threading.Thread(target=read_nothing, daemon=True).start()
    with pytest.raises(StanceError) as exc, atomic_open(fifo) as fh:
        assert opened.wait(10)
        time.sleep(0.2)  # let the reader close its end
        fh.write("x" * 100)
    check_refused(exc, fifo, "Broken pipe")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def device(tmp_path: Path, name: str, minor: int) -> Path:
    """/dev/NAME, or a private node of the same device where this process could rename over /dev/NAME (root):
    a regression must never replace the machine's real /dev/null or /dev/full (the old code did, as root)."""
    real = Path("/dev") / name
    if not os.access("/dev", os.W_OK) and os.path.exists(real) and stat.S_ISCHR(os.stat(real).st_mode):
        if not os.access(real, os.W_OK):
            pytest.skip(f"{real} is not writable here")
        return real
    node = tmp_path / name
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, minor))
        os.close(os.open(node, os.O_WRONLY))
    except OSError as exc:
        pytest.skip(f"cannot make a private {real} here: {exc.strerror}")
    return node


def test_dev_null_stays_a_device(tmp_path):
    null = device(tmp_path, "null", 3)
    write_text(null, "discarded\n")
    with atomic_open(null, "wb") as fh:
        fh.write(b"x" * 100_000)
    assert stat.S_ISCHR(os.lstat(null).st_mode) and temps(null.parent) == []


def test_dev_full_is_a_stance_error_and_stays_a_device(tmp_path):
    """Writing to /dev/full is harmless: every write fails with ENOSPC."""
    full = device(tmp_path, "full", 7)
    with pytest.raises(StanceError) as exc:
        write_text(full, "x\n")
    check_refused(exc, full, "No space left on device")
    assert stat.S_ISCHR(os.lstat(full).st_mode) and temps(full.parent) == []


def test_symlink_to_a_device_is_written_through(tmp_path):
    null = device(tmp_path, "null", 3)
    link = tmp_path / "link"
    link.symlink_to(null)
    write_text(link, "discarded\n")
    assert link.is_symlink() and stat.S_ISCHR(os.lstat(null).st_mode) and temps(null.parent) == []


def test_fd_alias_is_written_through_and_appends(tmp_path):
    """/dev/fd/N names a file the process already has open (`>> log`): renaming over it would detach it."""
    log = tmp_path / "log.txt"
    log.write_bytes(OLD)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        write_text(f"/dev/fd/{fd}", "appended\n")
        os.write(fd, b"after\n")  # the descriptor still points at the file that holds the output
    finally:
        os.close(fd)
    assert log.read_bytes() == OLD + b"appended\nafter\n" and temps(tmp_path) == []


def test_plain_write_keeps_working(tmp_path):
    out = tmp_path / "out.csv"
    out.write_bytes(OLD)
    with atomic_open(out, newline="") as fh:
        fh.write("a,b\r\n")
    assert out.read_bytes() == b"a,b\r\n" and temps(tmp_path) == []


def test_atomic_dir_over_a_file_is_refused(tmp_path):
    out = tmp_path / "model"
    out.write_bytes(OLD)
    with pytest.raises(StanceError) as exc, atomic_dir(out):
        pytest.fail("the block must not run")
    check_refused(exc, out, "exists and is not a directory")
    assert out.read_bytes() == OLD and temps(tmp_path) == []


def test_atomic_dir_over_a_symlink_to_a_file_is_refused(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(OLD)
    link = tmp_path / "model"
    link.symlink_to(real)
    with pytest.raises(StanceError) as exc, atomic_dir(link):
        pytest.fail("the block must not run")
    check_refused(exc, link, "exists and is not a directory")
    assert link.is_symlink() and real.read_bytes() == OLD and temps(tmp_path) == []


def test_atomic_dir_over_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "model"
    os.mkfifo(fifo)
    with pytest.raises(StanceError) as exc, atomic_dir(fifo):
        pytest.fail("the block must not run")
    check_refused(exc, fifo, "exists and is not a directory")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and temps(tmp_path) == []


def test_atomic_dir_swaps_an_existing_dir(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.json").write_bytes(OLD)
    with atomic_dir(out) as tmp:
        write_text(tmp / "new.json", "{}")
    assert [p.name for p in out.iterdir()] == ["new.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # neither temp nor .model.old left


def test_atomic_dir_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "v1"
    real.mkdir()
    (real / "old.json").write_bytes(OLD)
    link = tmp_path / "current"
    link.symlink_to(real)
    with atomic_dir(link) as tmp:
        write_text(tmp / "new.json", "{}")
    assert link.is_symlink() and [p.name for p in real.iterdir()] == ["new.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v1"]


def test_atomic_dir_failed_swap_is_refused_and_old_dir_kept(tmp_path, monkeypatch):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.json").write_bytes(OLD)
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".model.") and Path(src).name.endswith(
            ".tmp"
        ):  # moving the old dir aside works; swapping the new one in fails
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(StanceError) as exc, atomic_dir(out) as tmp:
        write_text(tmp / "new.json", "{}")
    monkeypatch.undo()
    check_refused(exc, out, "Input/output error")
    assert [p.name for p in out.iterdir()] == ["old.json"] and (out / "old.json").read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_callers_interrupt_cleans_up(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.json").write_bytes(OLD)
    with pytest.raises(KeyboardInterrupt), atomic_dir(out) as tmp:
        write_text(tmp / "new.json", "{}")
        raise KeyboardInterrupt
    assert [p.name for p in out.iterdir()] == ["old.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
