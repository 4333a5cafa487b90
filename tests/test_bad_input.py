"""Bad input from netpol-analyzer's error tables (corpus derived/expected_errors.json).

Every case is run through the CLI: the diagnostic names file and line, the rest of the
input is still analysed, no traceback escapes, and the exit code is 2 for errors.
netpol-analyzer aborts on its "fatal" cases; netpol-fix reports and goes on (the object the
API server would reject is skipped), which is what a CI run over a whole repository needs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from tests.corpus_path import corpus_path

ANALYZER = corpus_path("netpol-analyzer")
CASES = json.loads(corpus_path("netpol-analyzer/derived/expected_errors.json").read_text())["cases"]

# What netpol-fix says for each category: (severity, pattern in our message)
EXPECTED = {
    "invalid ipBlock CIDR": ("error", r"invalid CIDR 'A'"),
    "invalid label key in podSelector.matchLabels": ("error", r"label key 'app@b'"),
    "invalid label value in a peer podSelector": ("error", r"label value '\$backendservice'"),
    "peer has both ipBlock and podSelector": ("error", r"both ipBlock and podSelector"),
    "empty peer '{}' in from": ("error", r"empty peer"),
    "named port used with an ipBlock peer": ("warning", r"port 'abc' but its peers are all ipBlocks"),
    "named port 'abc' that no container defines": (None, None),
    "two NetworkPolicies with the same namespace/name": ("error", r"backend-netpol is defined twice"),
    "endPort combined with a named port": ("error", r"endPort cannot be set when port is a named"),
    "endPort < port": ("error", r"port range 10-1 is invalid"),
    "two Namespace objects named 'blue'": ("error", r"Namespace 'blue' is defined twice"),
    "pods of one owner workload with different labels, and a policy selector depends on the "
    "difference": ("warning", r"differ in labels"),
    "same as above, selector is a matchExpression": ("warning", r"differ in labels"),
    "directory with no .yaml/.yml/.json files": ("error", r"no \.yaml/\.yml/\.json files"),
    "JSON object with no 'kind'": ("error", r"missing `kind`"),
    "no workload resources": ("warning", r"no workloads"),
    "no NetworkPolicy resources (everything allowed)": ("warning", r"no NetworkPolicy"),
    "malformed Pod document": ("error", r"containerPort \[\] must be a number"),
    "malformed PodList document": ("error", r"ports must be a list"),
    "YAML syntax error in one file": ("error", r"found character that cannot start any token"),
    # not an error: skipped and counted (a repository holds more than manifests)
    "a JSON file that is not a Kubernetes object (connlist_output.json, a JSON array)":
        ("note", r"skipped 1 file\(s\) that hold no Kubernetes object"),
    "YAML document with a syntax error inside a multi-document file":
        ("error", r"found character that cannot start any token"),
}

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+) \(document (?P<doc>\d+)\): (?P<sev>\w+): ")


def test_every_case_has_an_expectation() -> None:
    assert len(CASES) == 22
    assert {c["category"] for c in CASES} == set(EXPECTED)


@pytest.mark.parametrize("case", CASES, ids=[c["dir"] for c in CASES])
def test_bad_input_is_reported_and_analysis_goes_on(case: dict) -> None:
    severity, pattern = EXPECTED[case["category"]]
    result = CliRunner().invoke(main, ["connectivity", str(ANALYZER / case["dir"])])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    stderr = result.stderr
    if severity is None:
        assert result.exit_code == 0
        assert "error" not in stderr
        return
    matching = [line for line in stderr.splitlines()
                if re.search(pattern, line)
                and (f": {severity}: " in line or line.startswith(f"{severity}: "))]
    assert matching, stderr
    if severity == "error":
        assert result.exit_code == 2
    else:
        assert result.exit_code == 0
    # errors about a file name the file, and a line and document where there is one
    for line in matching:
        if "no .yaml" in line or "no workloads" in line or "no NetworkPolicy" in line \
                or line.startswith("note: "):
            continue
        assert LINE.match(line), line


def test_syntax_error_in_one_document_keeps_the_others() -> None:
    folder = corpus_path("netpol-analyzer/tests/document_with_syntax_error")
    result = CliRunner().invoke(main, ["connectivity", str(folder)])
    assert result.exit_code == 2
    expected = corpus_path(
        "netpol-analyzer/test_outputs/cli/document_with_syntax_error_connlist_output.txt")
    lines = [x for x in result.stdout.splitlines() if x]
    assert lines
    # netpol-analyzer stops reading the file at the error; netpol-fix resumes at the
    # next `---`, so it knows the workloads after it too: its list is a superset.
    theirs = {x.strip() for x in expected.read_text().splitlines() if x.strip()}
    assert theirs < set(lines)


def test_bad_cidr_error_names_the_exact_line() -> None:
    folder = corpus_path("netpol-analyzer/tests/bad_netpols/subdir1")
    result = CliRunner().invoke(main, ["scan", str(folder)])
    line = next(x for x in result.stderr.splitlines() if "invalid CIDR" in x)
    match = LINE.match(line)
    assert match
    source = Path(match["file"]).read_text().splitlines()
    assert "cidr" in source[int(match["line"]) - 1]
