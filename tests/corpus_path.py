"""Where the tests find the third-party corpus, and a failure (never a skip) when it is not there.

The corpus is part of the repository (`tests/corpus/`, byte-exact copies of other projects'
manifests and expected results; `tests/corpus/SOURCES.md` says what, from where, at which
commit), so a fresh clone runs every conformance test. `NETPOL_FIX_CORPUS` points the tests at
another copy of the same layout (for example a newer snapshot being reviewed).

A missing file is a broken checkout or a wrong override, not a reason to test less: every
accessor here fails the test (or the collection of its module) with a message naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_REPOSITORY = Path(__file__).resolve().parent / "corpus"
CORPUS = Path(os.environ.get("NETPOL_FIX_CORPUS") or IN_REPOSITORY)


def corpus_path(relative: str | Path = "") -> Path:
    """`CORPUS / relative`, which must exist; otherwise the calling test (or, at module level,
    the collection of its module) fails with the missing path and where it should come from."""
    path = CORPUS / relative
    if not path.exists():
        origin = ("NETPOL_FIX_CORPUS=" + os.environ["NETPOL_FIX_CORPUS"]
                  if os.environ.get("NETPOL_FIX_CORPUS") else "the repository's tests/corpus/")
        pytest.fail(f"test corpus file missing: {path} (corpus from {origin}; "
                    "see tests/corpus/SOURCES.md)", pytrace=False)
    return path


def corpus_dirs(relative: str | Path = "") -> list[Path]:
    """The sorted subdirectories of an existing corpus folder (for parametrizing)."""
    return sorted(p for p in corpus_path(relative).iterdir() if p.is_dir())
