"""Conformance: `connectivity` against netpol-analyzer's published connlist outputs.

Every corpus set with a `test_outputs/connlist/<set>_connlist_output.txt` is compared line
for line (`{ingress-controller}` lines come from Ingress analysis and are dropped).

- With `--host-network-as-pods` (netpol-analyzer's reading) every set must be identical.
- By default hostNetwork pods are not governed by NetworkPolicy (Kubernetes semantics:
  their traffic uses the node's address). The sets that hold hostNetwork pods then differ
  on purpose, and only in lines that involve a hostNetwork workload; the test asserts
  exactly that, it does not skip them.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.inventory.load import load_inventory
from tests.corpus_path import corpus_path

ANALYZER = corpus_path("netpol-analyzer")


def connlist_sets() -> list[str]:
    outputs = corpus_path("netpol-analyzer/test_outputs/connlist")
    names = []
    for path in sorted(outputs.iterdir()):
        name = path.name.split("_connlist_output.txt")[0]
        if "_focus_workload" in name or "_connlist_output.txt" not in path.name:
            continue
        if (ANALYZER / "tests" / name).is_dir():
            names.append(name)
    return names


SETS = connlist_sets()


def expected_lines(name: str) -> list[str]:
    base = ANALYZER / "test_outputs" / "connlist" / f"{name}_connlist_output.txt"
    if base.exists():
        text = base.read_text()
    else:
        with gzip.open(f"{base}.gz", "rt") as handle:
            text = handle.read()
    return sorted(line.strip() for line in text.splitlines()
                  if line.strip() and "{ingress-controller}" not in line)


def run_connectivity(name: str, *extra: str) -> list[str]:
    result = CliRunner().invoke(main, ["connectivity", str(ANALYZER / "tests" / name), *extra])
    assert result.exit_code in (0, 2), result.output
    return sorted(line for line in result.stdout.splitlines() if line)


def host_network_workloads(name: str) -> set[str]:
    inventory = load_inventory([str(ANALYZER / "tests" / name)])
    return {w.key for w in inventory.workloads if w.host_network}


def test_corpus_sets_are_found() -> None:
    assert len(SETS) >= 40


@pytest.mark.parametrize("name", SETS)
def test_identical_to_netpol_analyzer_in_compatibility_mode(name: str) -> None:
    """netpol-analyzer's model: hostNetwork pods analysed as pods, and ipBlocks that never
    match pods (the default follows the API and matches a pod's status.podIP)."""
    assert run_connectivity(name, "--host-network-as-pods",
                            "--ipblocks-never-match-pods") == expected_lines(name)


@pytest.mark.parametrize("name", SETS)
def test_default_mode_differs_only_for_host_network_workloads(name: str) -> None:
    got, expected = set(run_connectivity(name)), set(expected_lines(name))
    host = host_network_workloads(name)
    differing = got ^ expected
    if not host:
        assert not differing
        return
    for line in differing:
        src, _, rest = line.partition(" => ")
        dst = rest.split(" : ")[0]
        assert src in host or dst in host, line


def test_conformance_rate_in_default_mode() -> None:
    """README's figure: in default mode every set that is not identical holds hostNetwork
    pods (the deliberate difference); at least two thirds are identical outright."""
    identical = [n for n in SETS if set(run_connectivity(n)) == set(expected_lines(n))]
    differing = [n for n in SETS if n not in identical]
    assert all(host_network_workloads(n) for n in differing), differing
    assert len(identical) >= 32


def test_expected_outputs_are_read_with_gzip(tmp_path: Path) -> None:
    assert "ipblockstest_4" in SETS
    assert len(expected_lines("ipblockstest_4")) > 1000
