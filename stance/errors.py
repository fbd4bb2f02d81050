"""The one exception type for mistakes a user can fix (bad config, bad data, bad paths).

The CLI prints `error: <message>` on one line and exits with code 2 (its debug mode shows the traceback).
"""

from __future__ import annotations


class StanceError(Exception):
    """A user error: the message says what is wrong and where (file, line, field)."""

    exit_code = 2

    def __init__(
        self, message: str, *, path: object = None, line: int | None = None, field: str | None = None, option: str = ""
    ):
        # `option`: the parameter at fault (e.g. "threshold"); the CLI names it as its flag (--threshold)
        self.option, self.detail = option, message
        if option:
            message = f"{option} {message}"
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            where += ": "
        if field is not None:
            message = f"field '{field}': {message}"
        super().__init__(where + message)


def line_number(raw: bytes, offset: int) -> int:
    """The 1-based line holding byte `offset` of `raw`; \\n, \\r\\n and a lone \\r each end a line."""
    before = raw[:offset].splitlines(keepends=True)
    return len(before) + 1 if not before or before[-1].endswith((b"\n", b"\r")) else len(before)
