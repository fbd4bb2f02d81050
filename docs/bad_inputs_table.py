"""Write docs/bad-inputs.md from the collected bad-input tests: one row per named case."""

import ast
import re
import subprocess
import sys
from pathlib import Path

FILES = {
    "tests/test_bad_inputs.py": "config, data, model dirs, options",
    "tests/test_bytes.py": "bytes that are not clean text",
    "tests/test_operability.py": "empty inputs, outputs, train output, precision, logs, interrupts",
    "tests/test_outputs.py": "the atomic writer: unwritable and special outputs",
}
out = subprocess.run(
    [sys.executable, "-m", "pytest", "--collect-only", "-q", "-o", "addopts=", "-p", "no:cacheprovider", *FILES],
    capture_output=True,
    text=True,
).stdout
ids = [line.strip() for line in out.splitlines() if "::" in line]
docs = {}
for f in FILES:
    for node in ast.walk(ast.parse(Path(f).read_text())):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            doc = ast.get_docstring(node) or ""
            docs[(f, node.name)] = doc.split("\n\n")[0].replace("\n", " ")
lines = [
    "# Bad inputs: every case the tests hold",
    "",
    "Each row is one named test case, run by `make test`. Cases run through the CLI (as a user calls it) assert",
    "the exit code and exactly one `error:` line naming the file (and line, where there is one), with no",
    "traceback; cases on the readers and the atomic writer assert the one-line StanceError the CLI would print.",
    "Where an output is involved, they assert no partial or temp file is left and an earlier file is unchanged.",
    "Regenerate: `python docs/bad_inputs_table.py > docs/bad-inputs.md`.",
    "",
]
n = 0
for f, what in FILES.items():
    rows = [i for i in ids if i.startswith(f)]
    lines += [f"## {what} (`{f}`, {len(rows)} cases)", "", "| # | case | what it checks |", "|---|---|---|"]
    for i in rows:
        n += 1
        name = i.split("::", 1)[1]
        base = name.split("[")[0]
        lines.append(f"| {n} | `{name}` | {docs.get((f, base), '').replace('|', '/')} |")
    lines.append("")
lines.insert(
    8,
    f"**{n} cases** in all, plus `tests/test_fuzz.py`: hypothesis, 500 random inputs per reader (JSONL, CSV, "
    "TSV, article, stdin) and 150 per CLI entry point, none of which may end in a traceback.\n",
)
print(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)))
