#!/usr/bin/env python3
"""Benchmark `diff` against one `connectivity` run on the same synthetic trees.

The OLD tree is `bench.py`'s tree; NEW edits a few objects, as a pull request would: one
ingress policy gains a port, one policy is added, one egress policy selects another
workload, and one namespace's `team` label changes (flipping namespaceSelectors). Both
trees are also committed to a scratch git repository to time `git:` sources. Prints one
line per command; not a test. The target: `diff` costs at most twice `connectivity`.

    python scripts/bench_diff.py                 # 100 namespaces x 50 workloads
    python scripts/bench_diff.py --size 10x10
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import generate, run  # a sibling script, not a package

NEW_POLICY = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: lock-svc-007
  namespace: team-002
spec:
  podSelector:
    matchLabels: {app: svc-007}
  policyTypes: [Ingress]
"""


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"bench_diff: {old!r} not found in {path}")
    path.write_text(text.replace(old, new, 1))


def mutate(root: Path) -> None:
    """A few edits a pull request could make."""
    edit(root / "team-001" / "netpol.yaml", "    - {port: http}\n",
         "    - {port: http}\n    - {port: 9999}\n")
    with (root / "team-002" / "netpol.yaml").open("a") as handle:
        handle.write(NEW_POLICY)
    edit(root / "team-003" / "netpol.yaml", "matchLabels: {app: svc-001}\n  policyTypes: [Egress]",
         "matchLabels: {app: svc-002}\n  policyTypes: [Egress]")
    edit(root / "team-004" / "workloads.yaml", "team: t004", "team: t004-renamed")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                    *args], cwd=repo, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="100x50", help="NAMESPACESxWORKLOADS")
    args = parser.parse_args()
    namespaces, workloads = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        old, new, repo = Path(tmp, "old"), Path(tmp, "new"), Path(tmp, "repo")
        n_workloads, n_policies = generate(old, namespaces, workloads)
        shutil.copytree(old, new)
        mutate(new)
        shutil.copytree(old, repo / "tree")
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "old")
        shutil.rmtree(repo / "tree")
        shutil.copytree(new, repo / "tree")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "new")
        print(f"{n_workloads} workloads, {n_policies} policies")
        print(f"{'command':>36} {'seconds':>8} {'peak MB':>8} {'lines':>6} {'ratio':>6}")
        base, peak, lines, _ = run(["connectivity", str(new)])
        print(f"{'connectivity NEW':>36} {base:>8.2f} {peak:>8.0f} {lines:>6} {1:>6.2f}")
        for label, command, cwd in (
            ("diff OLD NEW (directories)", ["diff", str(old), str(new)], None),
            ("diff git:HEAD~1:tree git:HEAD:tree",
             ["diff", "git:HEAD~1:tree", "git:HEAD:tree"], repo),
        ):
            seconds, peak, lines, _ = _run_in(cwd, command)
            print(f"{label:>36} {seconds:>8.2f} {peak:>8.0f} {lines:>6} "
                  f"{seconds / base:>6.2f}", flush=True)


def _run_in(directory: Path | None, command: list[str]) -> tuple[float, float, int, str]:
    """`run` from another working directory (git sources use the current repository)."""
    if directory is None:
        return run(command)
    previous = os.getcwd()
    os.chdir(directory)
    try:
        return run(command)
    finally:
        os.chdir(previous)


if __name__ == "__main__":
    main()
