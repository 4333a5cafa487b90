"""The least-privilege tree of issue 16 (scripts/bench.py, generate_tiered), small: broad
ingress permissions produce no finding, every seeded narrow gap and every namespace
without its DNS allowance does, and nothing else."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from click.testing import CliRunner

from netpol_fix.cli import main

REPO = Path(__file__).resolve().parents[1]


def bench_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts/bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)
    return module


def test_tiered_tree_findings_are_the_seeded_ones(tmp_path: Path) -> None:
    namespaces, workloads = 20, 25
    bench_module().generate_tiered(tmp_path, namespaces, workloads)
    result = CliRunner().invoke(main, ["scan", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1, result.output
    found = json.loads(result.stdout)["findings"]
    dns = {f["object"]["namespace"] for f in found if f["rule"] == "missing-dns-egress"}
    assert dns == {f"team-{n:03d}" for n in range(namespaces) if n % 10 == 9}
    callers = {(f"team-{n:03d}", f"svc-{w:03d}") for n in range(namespaces)
               for w in range(workloads)
               if w % 3 == 0 and n % 3 == 0 and (n * workloads + w) % 31 == 3}
    gaps = [f for f in found if f["rule"] == "one-sided-allow"]
    assert all(f["severity"] == "error" and f["fix"] for f in gaps)
    assert {tuple(a.split("/Deployment/")) for f in gaps for a in f["affected"][1:]} == callers
    assert len(found) == len(dns) + len(callers)
    strict = CliRunner().invoke(main, ["scan", "--strict", "--format", "json",
                                       "--select", "one-sided-allow", str(tmp_path)])
    warnings = [f for f in json.loads(strict.stdout)["findings"] if f["severity"] == "warning"]
    # one warning per ingress policy at most, never per admitted pod
    assert 0 < len(warnings) <= namespaces * workloads
    assert len({f["object"]["name"] + f["object"]["namespace"] for f in warnings}) \
        == len(warnings)
