"""Progress reporting that suits both a terminal and a log file.

On a terminal: a live tqdm bar. Anywhere else (CI, nohup, `2> run.log`) tqdm still writes a frame per refresh,
thousands per run, so there we write a plain line only once BOTH `interval` seconds and `fraction` of the total
have passed since the last line (the rarer of the two rules; with no total, the time rule alone), and one summary
line at close. `quiet` writes nothing at all, messages included: callers print them only when not quiet anyway.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed file: treat as a log, not a terminal
        return False


class Progress:
    """`with Progress("train", total=740, unit="step") as p: ... p.update(); p.set_postfix(loss=...); p.write(...)`"""

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        initial: int = 0,
        quiet: bool = False,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 30.0,
        fraction: float = 0.10,
        tty: bool | None = None,
    ) -> None:
        self.desc, self.total, self.n, self.quiet = desc, total or None, initial, quiet
        self._stream = sys.stderr if stream is None else stream  # looked up per call, so pytest's capture works
        self._clock, self._interval, self._fraction, self._initial = clock, interval, fraction, initial
        self._unit = unit.strip()  # tqdm callers pad units (" sent"); plain lines put their own space in
        self._units = self._unit if self._unit == "it" or self._unit.endswith("s") else self._unit + "s"
        self._postfix: dict[str, object] = {}
        self._closed = False
        self._start = self._last_t = clock()
        self._last_n = initial
        self._bar = None
        if not quiet and (_isatty(self._stream) if tty is None else tty):
            from tqdm import tqdm  # imported here so that `import stance.progress` and plain mode stay cheap

            self._bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=self._stream, disable=False)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also on an exception: the summary says how far the run got

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.quiet or self._closed:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last_t < self._interval:
            return
        if self.total is not None and self.n - self._last_n < self._fraction * self.total:
            return
        self._last_t, self._last_n = now, self.n
        percent = f" ({100 * self.n // self.total}%)" if self.total else ""
        self._emit(f"{self._count()}{percent}, {_duration(now - self._start)} elapsed")

    def set_postfix(self, **values: object) -> None:
        """Values shown on the bar, and appended to plain lines as `key=value`."""
        self._postfix = values
        if self._bar is not None:
            # refresh=False: redraw at tqdm's own pace, not on every step as tqdm's default would
            self._bar.set_postfix(values, refresh=False)

    def write(self, message: str) -> None:
        """A line that must reach the user: above the bar on a terminal, a plain line otherwise; nothing if quiet."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(message, file=self._stream)  # clears the bar, prints, redraws it
        else:
            self._emit(message, postfix=False)

    def close(self) -> None:
        """Idempotent. Plain mode writes `desc: n/total units in 5m12s (2.4 units/s)`; the bar shows its own."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            return
        if self.quiet:
            return
        elapsed = self._clock() - self._start
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else 0.0  # this run's rate, not a resumed one's
        line = f"{self._count()} in {_duration(elapsed)}"
        if rate >= 1:
            line += f" ({rate:.1f} {self._units}/s)"
        elif rate > 0:  # slow runs read better as seconds per unit, as tqdm does
            line += f" ({1 / rate:.1f} s/{self._unit})"
        self._emit(line)

    def _count(self) -> str:
        return f"{self.desc}: {f'{self.n}/{self.total}' if self.total else self.n} {self._units}"

    def _emit(self, line: str, postfix: bool = True) -> None:
        for key, value in self._postfix.items() if postfix else ():
            line += f", {key}={value:.4g}" if isinstance(value, float) else f", {key}={value}"
        self._stream.write(line + "\n")
        flush = getattr(self._stream, "flush", None)
        if flush is not None:
            flush()  # a log file being tailed should show the line now, not at exit
