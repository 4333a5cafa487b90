#!/usr/bin/env python3
"""Regenerate golden/<rule>/<case>/expected.diff and expected-scan.json, on purpose only.

Every folder below golden/ that holds an `input/` folder is a case (golden/yamledit has
its own script): `input/` manifests and, optionally, `args` (extra options, one line) and
`expect` (`positive`: the rule named by the parent folder must report a finding;
`negative`: it must not).
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

GOLDEN = ROOT / "golden"


def cases() -> list[Path]:
    return sorted(p.parent for p in GOLDEN.glob("*/*/input")
                  if p.is_dir() and p.parent.parent.name != "yamledit")


def outputs(case: Path) -> dict[str, str]:
    args_file = case / "args"
    extra = shlex.split(args_file.read_text()) if args_file.exists() else []
    cwd = os.getcwd()
    os.chdir(case)
    try:
        runner = CliRunner()
        # stdout_bytes: Result.stdout folds CRLF into LF, and CRLF files must stay CRLF
        diff = runner.invoke(main, ["fix", "--dry-run", "input", *extra]).stdout_bytes
        scan_args = [a for a in extra if a != "--unsafe-fixes"]  # a fix-only option
        scan = runner.invoke(main, ["scan", "--format", "json", "input", *scan_args]).stdout_bytes
    finally:
        os.chdir(cwd)
    return {"expected.diff": diff.decode(), "expected-scan.json": scan.decode()}


def main_() -> None:
    for case in cases():
        for name, text in outputs(case).items():
            (case / name).write_text(text, newline="")
            print(f"wrote {case.relative_to(ROOT)}/{name}")


if __name__ == "__main__":
    main_()
