#!/usr/bin/env python3
"""Regenerate golden/cases/<case>/expected.diff and expected-scan.json, on purpose only.

Each case folder holds `input/` manifests and, optionally, `args` (extra options, one line).
Commands run from the case folder so paths in the outputs are `input/...`. Review the git
diff of golden/ before committing: a changed golden file is a changed behaviour.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from netpol_fix.cli import main

CASES = ROOT / "golden" / "cases"


def outputs(case: Path) -> dict[str, str]:
    args_file = case / "args"
    extra = shlex.split(args_file.read_text()) if args_file.exists() else []
    cwd = os.getcwd()
    os.chdir(case)
    try:
        runner = CliRunner()
        # stdout_bytes: Result.stdout folds CRLF into LF, and CRLF files must stay CRLF
        diff = runner.invoke(main, ["fix", "--dry-run", "input", *extra]).stdout_bytes
        scan = runner.invoke(main, ["scan", "--format", "json", "input", *extra]).stdout_bytes
    finally:
        os.chdir(cwd)
    return {"expected.diff": diff.decode(), "expected-scan.json": scan.decode()}


def main_() -> None:
    for case in sorted(p for p in CASES.iterdir() if p.is_dir()):
        for name, text in outputs(case).items():
            (case / name).write_text(text, newline="")
            print(f"wrote {case.relative_to(ROOT)}/{name}")


if __name__ == "__main__":
    main_()
