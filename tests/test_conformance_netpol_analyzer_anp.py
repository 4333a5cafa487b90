"""Conformance: the admin tiers against netpol-analyzer's AdminNetworkPolicy /
BaselineAdminNetworkPolicy goldens (tests/corpus/netpol-analyzer-anp/, copied byte-exact
from np-guard/netpol-analyzer).

- connlist: every set with `test_outputs/connlist/<set>_connlist_output.txt` is compared
  line for line, with `--host-network-as-pods` (netpol-analyzer's reading of hostNetwork);
- diff: every `test_outputs/diff/diff_between_<new>_and_<old>.txt`, `diff -o
  netpol-analyzer` line for line;
- the sets netpol-analyzer rejects (derived/expected_errors_anp.json, severity fatal)
  give an input error (exit 2) here too.

DELIBERATE holds the documented differences (set -> reason); the test asserts that each
one still differs, so the list cannot go stale. At least 95% must be identical.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from tests.corpus_path import corpus_path

ANP = corpus_path("netpol-analyzer-anp")
DELIBERATE: dict[str, str] = {}
"""Sets whose output differs on purpose, with the reason (none today)."""


def connlist_sets() -> list[str]:
    names = []
    for path in sorted((ANP / "test_outputs" / "connlist").glob("*_connlist_output.txt")):
        name = path.name.removesuffix("_connlist_output.txt")
        if (ANP / "tests" / name).is_dir():
            names.append(name)
    return names


def diff_pairs() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((ANP / "test_outputs" / "diff").glob("diff_between_*.txt")):
        match = re.fullmatch(r"diff_between_(.+)_and_(.+)\.txt", path.name)
        assert match, path.name
        out.append((path.name, match.group(2), match.group(1)))
    return out


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def run_connlist(name: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["connectivity", str(ANP / "tests" / name),
                                       "--host-network-as-pods"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, sorted(lines(result.stdout))


def expected_connlist(name: str) -> list[str]:
    path = ANP / "test_outputs" / "connlist" / f"{name}_connlist_output.txt"
    return sorted(lines(path.read_text()))


def run_diff(old: str, new: str) -> list[str]:
    result = CliRunner().invoke(main, ["diff", str(ANP / "tests" / old), str(ANP / "tests" / new),
                                       "-o", "netpol-analyzer", "--host-network-as-pods"])
    # 2 where the set has input errors (a `pods` peer without podSelector, see README)
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return lines(result.stdout)


CONNLIST = connlist_sets()
DIFFS = diff_pairs()


def test_the_corpus_is_inside_the_repository() -> None:
    assert len(CONNLIST) >= 35 and len(DIFFS) >= 13


@pytest.mark.parametrize("name", CONNLIST)
def test_connlist_identical(name: str) -> None:
    _code, got = run_connlist(name)
    if name in DELIBERATE:
        assert got != expected_connlist(name), f"{name} no longer differs: {DELIBERATE[name]}"
        return
    assert got == expected_connlist(name)


@pytest.mark.parametrize(("golden", "old", "new"), DIFFS)
def test_diff_identical(golden: str, old: str, new: str) -> None:
    expected = lines((ANP / "test_outputs" / "diff" / golden).read_text())
    assert run_diff(old, new) == expected


def test_conformance_rate() -> None:
    """At least 95% of the connlist and diff goldens identical (README's figure)."""
    total = len(CONNLIST) + len(DIFFS)
    assert (total - len(DELIBERATE)) / total >= 0.95


FATAL = [case for case in json.loads((ANP / "derived" / "expected_errors_anp.json").read_text())
         ["cases"] if case["severity"] == "fatal"]


@pytest.mark.parametrize("case", FATAL, ids=[c["dir"].split("/")[-1] for c in FATAL])
def test_rejected_sets_are_input_errors(case: dict[str, str]) -> None:
    """What netpol-analyzer refuses is an input error here (exit 2), named by file:line;
    the rest of the input is still analysed."""
    result = CliRunner().invoke(main, ["connectivity", str(ANP / case["dir"])])
    assert result.exit_code == 2, (case, result.output)
    assert re.search(r"\.ya?ml:\d+ \(document \d+\): error: ", result.stderr), result.stderr
