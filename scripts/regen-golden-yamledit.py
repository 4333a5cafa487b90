#!/usr/bin/env python3
"""Regenerate golden/yamledit/*/expected.* on purpose; review the diff before committing."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.yamledit.golden_cases import case_dirs, expected_path, run_case


def main() -> None:
    for case in case_dirs():
        out = expected_path(case)
        new = run_case(case)
        old = out.read_bytes() if out.exists() else None
        if new != old:
            out.write_bytes(new)
            print(f"updated {out}")
    print("done")


if __name__ == "__main__":
    main()
