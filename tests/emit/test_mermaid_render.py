"""Mermaid accepts every kind of picture netpol-fix draws: each is rendered by the
@mermaid-js/mermaid-cli package (`mmdc`, Mermaid's own parser and renderer) in Debian's
headless Chromium, and the SVG must hold the labels.

Marker `mermaid`. `scripts/install-mermaid-cli` installs what it needs (`.ci/run` runs it);
when mmdc or Chromium is missing the tests FAIL and say how to install them: they are never
skipped. Deselect them on purpose with `-m "not mermaid"` (README, Development).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.emit import mermaid
from netpol_fix.emit.diff import render_md
from netpol_fix.engine.connectivity import Connection
from netpol_fix.engine.diff import PairChange, diff_inventories
from netpol_fix.engine.network import Network
from netpol_fix.engine.verdict import Explainer, Query
from netpol_fix.fixes.files import apply_plan, unified_diff
from netpol_fix.fixes.plan import build_plan
from netpol_fix.inventory.load import load_inventory
from netpol_fix.model.connset import ConnSet
from netpol_fix.pr import body
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import RULES, run_rules
from tests.corpus_path import corpus_path

pytestmark = pytest.mark.mermaid

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXAMPLES = str(REPO / "examples")
PUPPETEER = HERE / "puppeteer.json"
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT = 300


def mmdc() -> str:
    """The mmdc to use: $NETPOL_FIX_MMDC, the one scripts/install-mermaid-cli installs, or
    one on PATH; a clear failure when there is none or Chromium is missing."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = Path(os.environ.get("NETPOL_FIX_MERMAID_DIR") or cache / "netpol-fix" /
                  "mermaid-cli")
    candidates = [os.environ.get("NETPOL_FIX_MMDC"), str(folder / "node_modules/.bin/mmdc"),
                  shutil.which("mmdc")]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    missing = []
    if found is None:
        missing.append("mmdc (@mermaid-js/mermaid-cli)")
    if not CHROMIUM.is_file():
        missing.append(f"Chromium ({CHROMIUM})")
    if missing:
        pytest.fail(f"cannot render Mermaid: {' and '.join(missing)} not installed; run "
                    "scripts/install-mermaid-cli (as .ci/run does), or deselect these tests "
                    "with -m 'not mermaid'", pytrace=False)
    assert found is not None
    return found


def explain(*args: str) -> str:
    result = CliRunner().invoke(main, ["explain", EXAMPLES, *args, "--format", "mermaid"])
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def several_verdicts() -> str:
    """Two verdicts in one chart (explain draws one subgraph per verdict), ICMP, Flannel."""
    net = Network(load_inventory([EXAMPLES]))
    (web,), (api,), (gateway,) = (net.find("shop", n) if n != "gateway" else
                                  net.find("payments", n) for n in ("web", "api", "gateway"))
    explainer = Explainer(net)
    return mermaid.explain_flowchart([explainer.explain_pods(web, api, Query(None, "ICMP")),
                                      explainer.explain_pods(api, gateway, Query(8443))],
                                     cni="flannel")


def fixed_examples(tmp: Path) -> str:
    shutil.copytree(REPO / "examples", tmp / "examples")
    assert CliRunner().invoke(main, ["fix", str(tmp / "examples"),
                                     "--unsafe-fixes"]).exit_code in (0, 1)
    return str(tmp / "examples")


def pr_body(tmp: Path) -> str:
    shutil.copytree(REPO / "examples", tmp / "pr" / "examples")
    inventory = load_inventory([str(tmp / "pr" / "examples")])
    findings = run_rules(Context(inventory, Settings()), list(RULES.values()))
    plan = build_plan(findings, unsafe=True)
    return body.render(plan.applied, unified_diff(apply_plan(plan)), "main",
                       ["examples"]).body


def documents(tmp: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (Markdown holding one Mermaid block, texts its SVG must show)."""
    corpus_set = corpus_path("netpol-analyzer/tests/onlineboutique_workloads")
    connectivity = CliRunner().invoke(main, ["connectivity", str(corpus_set), "--format",
                                             "mermaid"]).stdout
    many = [PairChange(kind, f"shop/w{i}[Deployment]", "db/pg[StatefulSet]",
                       ConnSet.ports("TCP", 5432) if kind != "added" else ConnSet.none(),
                       ConnSet.none() if kind == "removed" else ConnSet.ports("TCP", 6432))
            for i, kind in enumerate(["added", "removed", "changed"] * 15)]
    odd = [Connection('ns-a/we"ird#1[Pod]', "ns-b/x<y>&`z`|[Pod]", ConnSet.ports("UDP", 53)),
           Connection("1.2.3.0-1.2.3.255[External]", "end/end[Deployment]", ConnSet.all())]
    fixed = fixed_examples(tmp)
    diffs = diff_inventories(load_inventory([EXAMPLES]), load_inventory([fixed]))
    fenced = mermaid.fenced
    return {
        "explain-denied": (fenced(explain("--from", "shop/api", "--to", "payments/gateway",
                                          "--port", "8443", "--fix")),
                           ["payments/gateway ingress rule #1", "namespace-selector-unmatched",
                            "Fix (", "What does the client see?"]),
        "explain-allowed": (fenced(explain("--from", "shop/web", "--to", "shop/api", "--port",
                                           "9000", "--cni", "cilium")),
                            ["Admitted by NetworkPolicy", "cilium enforces NetworkPolicy"]),
        "explain-address": (fenced(explain("--from", "payments/gateway", "--to",
                                           "198.51.100.7", "--port", "443")),
                            ["not governed"]),
        "explain-several": (fenced(several_verdicts()),
                            ["shop/web[Deployment] =&gt; shop/api[Deployment]",
                             "Flannel enforces no NetworkPolicy"]),
        "connectivity-examples": (fenced(CliRunner().invoke(
            main, ["connectivity", EXAMPLES, "--format", "mermaid"]).stdout),
            ["namespace shop", "web[Deployment]", "TCP 9000", "198.51.100.0-198.51.100.255"]),
        "connectivity-corpus": (fenced(connectivity), ["namespace default"]),
        "diff-md": (render_md(diffs), ["+ TCP 9000", "prometheus[Deployment]"]),
        "pr-body": (pr_body(tmp), ["kube-dns", "TCP 8443"]),
        "changes-bounded": (fenced(mermaid.changes_graph(many)),
                            ["and 5 more pair(s)", "+ TCP 6432", "- TCP 5432"]),
        "escaped-labels": (fenced(mermaid.connectivity_graph(odd)),
                           ['we"ird#1[Pod]', "x&lt;y&gt;&amp;`z`|[Pod]", "end[Deployment]"]),
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, list[str]]]:
    """Every document rendered in one mmdc run (one browser start): name -> (SVG, texts)."""
    tool = mmdc()
    tmp = tmp_path_factory.mktemp("mermaid")
    docs = documents(tmp)
    for name, (markdown, _texts) in docs.items():
        assert markdown.count("```mermaid\n") == 1, name
    # mmdc renders the Mermaid blocks of a Markdown file in order, as all-out-1.svg, ...
    (tmp / "all.md").write_text("\n\n".join(markdown for markdown, _ in docs.values()))
    run = subprocess.run([tool, "-q", "-p", str(PUPPETEER), "-i", str(tmp / "all.md"),
                          "-o", str(tmp / "all-out.md")], capture_output=True, text=True,
                         timeout=TIMEOUT, check=False)
    assert run.returncode == 0, f"Mermaid refused a picture:\n{run.stderr[-3000:]}"
    return {name: ((tmp / f"all-out-{i}.svg").read_text(), texts)
            for i, (name, (_markdown, texts)) in enumerate(docs.items(), start=1)}


@pytest.mark.parametrize("name", [
    "explain-denied", "explain-allowed", "explain-address", "explain-several",
    "connectivity-examples", "connectivity-corpus", "diff-md", "pr-body", "changes-bounded",
    "escaped-labels"])
def test_mermaid_renders_it(rendered: dict[str, tuple[str, list[str]]], name: str) -> None:
    svg, texts = rendered[name]
    assert "<svg" in svg and "Syntax error" not in svg
    for text in texts:
        assert text in svg, f"{name}: {text!r} not drawn"
