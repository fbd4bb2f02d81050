"""stance.progress: a live bar on a terminal, a few plain lines in a log, nothing when quiet."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stance.progress import Progress

REPO = Path(__file__).resolve().parent.parent


class FakeClock:
    """Time moves only when the test says so; ticks are counted, not summed, so no float drift."""

    def __init__(self, step: float) -> None:
        self.step, self.ticks = step, 0

    def __call__(self) -> float:
        return self.ticks * self.step

    def tick(self) -> None:
        self.ticks += 1


def run(updates: int, step: float, total: int | None, **kwargs) -> list[str]:
    """`updates` single-step updates, the clock moving `step` seconds before each; returns the written lines."""
    out, clock = io.StringIO(), FakeClock(step)
    p = Progress("train", total=total, unit="step", stream=out, clock=clock, tty=False, **kwargs)
    for _ in range(updates):
        clock.tick()
        p.update()
    p.close()
    assert "\r" not in out.getvalue()  # no tqdm frames in a log
    return out.getvalue().splitlines()


def test_fast_run_is_limited_by_the_time_rule():
    # 10,000 steps in 100 s: 10% comes every 10 s, so the 30 s rule is the rarer one: lines at 30, 60, 90 s
    lines = run(10_000, 0.01, 10_000)
    assert len(lines) <= 11
    assert lines[:-1] == [
        "train: 3000/10000 steps (30%), 30s elapsed",
        "train: 6000/10000 steps (60%), 1m00s elapsed",
        "train: 9000/10000 steps (90%), 1m30s elapsed",
    ]
    assert lines[-1] == "train: 10000/10000 steps in 1m40s (100.0 steps/s)"


def test_slow_run_is_limited_by_the_fraction_rule():
    # 1 s a step, 1,000 steps: 30 s passes every 30 steps, 10% only every 100, so the 10% rule is the rarer one
    lines = run(1_000, 1.0, 1_000)
    assert len(lines) == 11
    assert [line.split(",")[0] for line in lines[:-1]] == [
        f"train: {n}/1000 steps ({n // 10}%)" for n in range(100, 1001, 100)
    ]
    assert lines[-1] == "train: 1000/1000 steps in 16m40s (1.0 steps/s)"


def test_short_slow_run_obeys_both_rules():
    # 100 steps, 1 s each: 10% every 10 steps, but 30 s only every 30: lines at 30, 60, 90
    lines = run(100, 1.0, 100)
    assert len(lines) <= 11
    assert [line.split(" (")[0] for line in lines[:-1]] == [
        "train: 30/100 steps",
        "train: 60/100 steps",
        "train: 90/100 steps",
    ]


def test_unknown_total_uses_the_time_rule_alone():
    lines = run(100, 1.0, None)
    assert lines == [
        "train: 30 steps, 30s elapsed",
        "train: 60 steps, 1m00s elapsed",
        "train: 90 steps, 1m30s elapsed",
        "train: 100 steps in 1m40s (1.0 steps/s)",
    ]


def test_rates_below_one_read_as_seconds_per_unit():
    assert run(10, 4.0, 10, interval=1e9)[-1] == "train: 10/10 steps in 40s (4.0 s/step)"


def test_resumed_run_counts_from_initial():
    # resumed at step 500 of 1000: the 10% rule counts from 500, and the rate is this run's 500 steps
    lines = run(500, 1.0, 1_000, initial=500)
    assert [line.split(" (")[0] for line in lines[:-1]] == [f"train: {n}/1000 steps" for n in range(600, 1001, 100)]
    assert lines[-1] == "train: 1000/1000 steps in 8m20s (1.0 steps/s)"


@pytest.mark.parametrize("tty", [False, True, None])
def test_quiet_writes_nothing(tty):
    out = io.StringIO()
    with Progress("train", total=10, stream=out, clock=FakeClock(100.0), quiet=True, tty=tty) as p:
        for _ in range(10):
            p.update()
            p.set_postfix(loss="0.1")
            p.write("epoch 1: validation macro-F1 0.71")
    assert out.getvalue() == ""


def test_messages_keep_their_place_among_plain_lines():
    out, clock = io.StringIO(), FakeClock(10.0)
    p = Progress("train", total=6, unit="step", stream=out, clock=clock, tty=False)
    for step in range(1, 7):
        clock.tick()
        p.update()
        if step % 3 == 0:
            p.write(f"epoch {step // 3}: validation macro-F1 0.7{step}")
    p.close()
    assert out.getvalue().splitlines() == [
        "train: 3/6 steps (50%), 30s elapsed",
        "epoch 1: validation macro-F1 0.73",
        "train: 6/6 steps (100%), 1m00s elapsed",
        "epoch 2: validation macro-F1 0.76",
        "train: 6/6 steps in 1m00s (10.0 s/step)",
    ]


def test_postfix_is_appended_to_plain_lines_but_not_to_messages():
    out, clock = io.StringIO(), FakeClock(60.0)
    p = Progress("train", total=2, unit="step", stream=out, clock=clock, tty=False)
    clock.tick()
    p.set_postfix(epoch=1, loss="0.412")
    p.update()
    p.write("note")
    p.set_postfix(loss=0.30000001)
    clock.tick()
    p.update()
    p.close()
    assert out.getvalue().splitlines() == [
        "train: 1/2 steps (50%), 1m00s elapsed, epoch=1, loss=0.412",
        "note",
        "train: 2/2 steps (100%), 2m00s elapsed, loss=0.3",
        "train: 2/2 steps in 2m00s (60.0 s/step), loss=0.3",
    ]


def test_close_is_idempotent_and_summarises():
    out, clock = io.StringIO(), FakeClock(0.5)
    p = Progress("predict", unit=" sent", stream=out, clock=clock, tty=False)
    for _ in range(20):
        clock.tick()
        p.update()
    p.close()
    p.close()
    p.update()  # after close: counted, never written
    p.close()
    assert out.getvalue().splitlines() == ["predict: 20 sents in 10s (2.0 sents/s)"]


def test_context_manager_closes_on_exit_and_on_exception():
    out = io.StringIO()
    with Progress("train", total=5, unit="step", stream=out, clock=FakeClock(0.0), tty=False) as p:
        p.update(5)
    assert out.getvalue() == "train: 5/5 steps in 0s\n"

    out = io.StringIO()
    with pytest.raises(RuntimeError, match="boom"):
        with Progress("train", total=5, unit="step", stream=out, clock=FakeClock(0.0), tty=False) as p:
            p.update(2)
            raise RuntimeError("boom")
    assert out.getvalue() == "train: 2/5 steps in 0s\n"


def test_tty_uses_a_live_tqdm_bar():
    out = io.StringIO()
    with Progress("train", total=50, unit="step", stream=out, tty=True) as p:
        for _ in range(50):
            p.update()
            p.set_postfix(loss="0.412")
        p.write("epoch 1: validation macro-F1 0.71")
    text = out.getvalue()
    assert "\r" in text  # tqdm redraws in place
    assert "train" in text and "50/50" in text and "loss=0.412" in text
    assert "\repoch 1: validation macro-F1 0.71\n" in text  # printed over the cleared bar, on a line of its own
    assert " in 0s" not in text  # no plain summary on a terminal: the bar shows its own


def test_stream_defaults_to_stderr_at_call_time(capsys):
    # capsys swaps sys.stderr for a non-terminal after stance.progress was imported: it must still be used
    with Progress("train", total=2, unit="step", clock=FakeClock(0.0)) as p:
        p.update(2)
    captured = capsys.readouterr()
    assert captured.err == "train: 2/2 steps in 0s\n" and captured.out == ""


def test_streams_without_isatty_are_plain():
    class Sink:
        def __init__(self) -> None:
            self.parts: list[str] = []

        def write(self, s: str) -> None:
            self.parts.append(s)

    sink = Sink()
    with Progress("train", total=1, stream=sink, clock=FakeClock(0.0)) as p:
        p.update()
    assert "".join(sink.parts) == "train: 1/1 it in 0s\n"


def test_redirected_stderr_in_a_real_process(tmp_path):
    snippet = textwrap.dedent(
        """
        from stance.progress import Progress
        with Progress("train", total=5000, unit="step") as p:
            for i in range(5000):
                p.update()
                p.set_postfix(loss=f"{1 / (i + 1):.3f}")
                if i == 2500:
                    p.write("epoch 1: validation macro-F1 0.71")
        """
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as fh:
        subprocess.run(
            [sys.executable, "-c", snippet], cwd=REPO, stderr=fh, stdin=subprocess.DEVNULL, check=True, timeout=120
        )
    text = log.read_text()
    lines = text.splitlines()  # splitlines also splits on "\r", so tqdm frames would count as lines
    assert 2 <= len(lines) <= 12, text
    assert "\r" not in text
    assert "epoch 1: validation macro-F1 0.71" in lines
    assert (
        lines[-1].startswith("train: 5000/5000 steps in ")
        and "steps/s" in lines[-1]
        and lines[-1].endswith("loss=0.000")
    )
    # importing stance.progress must not pull in tqdm: the plain path never needs it
    probe = "import sys, stance.progress; print('tqdm' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )
