"""Conformance: `diff` against netpol-analyzer's published diff outputs.

Every `test_outputs/diff/diff_between_<new>_and_<old>.txt` whose two input sets are in the
corpus is compared line for line (sorted; `{ingress-controller}` lines come from Ingress and
Route analysis, which netpol-fix does not do, and are dropped). netpol-analyzer analyses
hostNetwork pods as ordinary pods, so the comparison uses `--host-network-as-pods`.

One difference is deliberate and asserted, not skipped: netpol-analyzer has no ICMP, so a
port-less rule and a rule listing every port of TCP, UDP and SCTP look equal to it. In
Kubernetes they are not: ICMP is admitted only by rules without ports, so replacing
explicit full port ranges by `ingress: [{}]` lets ping through (and the reverse stops it). The netpol-analyzer format cannot
write such a change and leaves it out; the other formats report it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.emit.diff import ports_only, render_netpol_analyzer
from netpol_fix.engine.cni import cni_model
from netpol_fix.engine.connectivity import ConnectivityAnalysis
from netpol_fix.engine.diff import diff_inventories
from netpol_fix.engine.network import Network
from netpol_fix.inventory.build import Inventory
from netpol_fix.inventory.load import load_inventory
from tests.corpus_path import corpus_path

ANALYZER = corpus_path("netpol-analyzer")
OUTPUTS = corpus_path("netpol-analyzer/test_outputs/diff")
ARG_NAMES_PREFIX = "TsetOutputWithArgNamesOption_"


def split_name(path: Path) -> tuple[str, str] | None:
    """(old set, new set) of `diff_between_<new>_and_<old>`; set names may hold `_and_`,
    so every split is tried and the one whose two folders exist is kept."""
    body = path.name.removesuffix(".gz").removesuffix(".txt")
    body = body.removeprefix(ARG_NAMES_PREFIX).removeprefix("diff_between_")
    parts = body.split("_and_")
    for i in range(1, len(parts)):
        new, old = "_and_".join(parts[:i]), "_and_".join(parts[i:])
        if (ANALYZER / "tests" / new).is_dir() and (ANALYZER / "tests" / old).is_dir():
            return old, new
    return None


def diff_cases() -> list[Path]:
    return [p for p in sorted(OUTPUTS.iterdir()) if split_name(p) is not None]


CASES = diff_cases()
IDS = [p.name.removesuffix(".gz").removesuffix(".txt") for p in CASES]


def expected_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode()
    lines = [line for line in text.splitlines()
             if line.strip() and "{ingress-controller}" not in line]
    return [] if lines == ["Connectivity diff:"] else sorted(lines)


def inventories(path: Path) -> tuple[Inventory, Inventory]:
    names = split_name(path)
    assert names is not None
    return tuple(load_inventory([str(ANALYZER / "tests" / n)]) for n in names)  # type: ignore[return-value]


def run_cli(path: Path, *extra: str) -> list[str]:
    names = split_name(path)
    assert names is not None
    old, new = (str(ANALYZER / "tests" / n) for n in names)
    result = CliRunner().invoke(main, ["diff", old, new, "--format", "netpol-analyzer", *extra])
    assert result.exit_code in (0, 1, 2), result.output
    return sorted(line for line in result.stdout.splitlines() if line)


def test_corpus_diff_outputs_are_found() -> None:
    assert len(CASES) >= 29


@pytest.mark.parametrize("path", CASES, ids=IDS)
def test_identical_to_netpol_analyzer(path: Path) -> None:
    if path.name.startswith(ARG_NAMES_PREFIX):
        # the same diff printed with argument names: the library takes the names
        old, new = inventories(path)
        changes = diff_inventories(old, new, host_network_as_pods=True,
                                   cni=cni_model(None, analyzer=True)).changes
        got = sorted(render_netpol_analyzer(changes, "old", "new").splitlines())
    else:
        # netpol-analyzer's model: hostNetwork pods as pods, ipBlocks never match pods
        got = run_cli(path, "--host-network-as-pods", "--ipblocks-never-match-pods")
    assert got == expected_lines(path)


def test_conformance_figure() -> None:
    """README's figure: every corpus diff identical line for line (at least 95% needed)."""
    same = total = 0
    for path in CASES:
        if path.name.startswith(ARG_NAMES_PREFIX):
            continue
        expected, got = set(expected_lines(path)), set(run_cli(path, "--host-network-as-pods"))
        same += len(expected & got)
        total += len(expected | got)
    assert total > 5000
    assert same / total >= 0.95
    assert same == total


def test_icmp_only_changes_are_reported_but_not_in_analyzer_format() -> None:
    """with_end_port_example_new replaces a rule with ports 1-65535 on TCP, UDP and SCTP
    by `ingress: [{}]`: the same for netpol-analyzer (empty expected file), ICMP gained for
    Kubernetes (231 pairs, each named with the two policies responsible)."""
    path = corpus_path("netpol-analyzer/test_outputs/diff/"
                       "diff_between_with_end_port_example_new_and_with_end_port_example.txt")
    assert expected_lines(path) == []
    old, new = inventories(path)
    changes = diff_inventories(old, new, host_network_as_pods=True).changes
    assert len(changes) == 231
    for change in changes:
        assert not ports_only(change)
        assert change.change == "changed"
        assert change.new.other and not change.old.other
        gained = change.gained
        assert gained.other and not (gained.tcp or gained.udp or gained.sctp)
        assert not change.lost
        assert any("ingress rule" in cause.detail for cause in change.causes)
    assert render_netpol_analyzer(changes) == ""


def host_network_keys(path: Path) -> set[str]:
    return {w.key for inventory in inventories(path) for w in inventory.workloads
            if w.host_network}


@pytest.mark.parametrize("path", CASES, ids=IDS)
def test_default_mode_differs_only_for_host_network_workloads(path: Path) -> None:
    """Without --host-network-as-pods, hostNetwork pods are not governed by policies
    (Kubernetes: their traffic has the node's address); only their lines may differ."""
    if path.name.startswith(ARG_NAMES_PREFIX):
        return
    differing = set(run_cli(path)) ^ set(expected_lines(path))
    host = host_network_keys(path)
    for line in differing - {"Connectivity diff:"}:
        assert any(f" {key}," in line for key in host), line


@pytest.mark.parametrize("path", CASES, ids=IDS)
def test_every_change_names_its_cause(path: Path) -> None:
    old, new = inventories(path)
    for change in diff_inventories(old, new, host_network_as_pods=True).changes:
        assert change.causes, (change.src, change.dst)


def pod_pairs(inventory: Inventory) -> dict[tuple[str, str], object]:
    """Full connectivity of one inventory (netpol-fix's own `connectivity`), pods only."""
    network = Network(inventory, host_network_as_pods=True)
    return {(c.src, c.dst): c.conns for c in ConnectivityAnalysis(network).connections(False)}


@pytest.mark.parametrize("path", CASES, ids=IDS)
def test_incremental_diff_equals_comparing_full_analyses(path: Path) -> None:
    """Only touched rows and columns are computed; the result must equal comparing the
    complete connectivity of both versions."""
    old, new = inventories(path)
    before, after = pod_pairs(old), pod_pairs(new)
    expected = {pair for pair in before.keys() | after.keys()
                if before.get(pair) != after.get(pair)}
    changes = diff_inventories(old, new, host_network_as_pods=True).changes
    got = {(c.src, c.dst) for c in changes if "[External]" not in c.src + c.dst}
    assert got == expected
