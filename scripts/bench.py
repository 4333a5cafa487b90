#!/usr/bin/env python3
"""Benchmark: generate synthetic GitOps trees and time `connectivity` and `scan` on them.

Each tree has N namespaces with W Deployments each, a default-deny (ingress and egress) and
a DNS allowance per namespace, a per-workload ingress policy (matchExpressions,
namespaceSelectors, named ports, endPort) and egress policies for 55% of the workloads
(pod peers, ipBlocks with except). Prints one line of figures per size; not a test.

    python scripts/bench.py                 # the two target sizes
    python scripts/bench.py --sizes 10x10   # N namespaces x W workloads
    python scripts/bench.py --keep DIR      # write the tree to DIR and keep it
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIERS = ("front", "back", "data")


def generate(root: Path, namespaces: int, workloads: int, seed: int = 7) -> tuple[int, int]:
    """Write the tree; returns (workloads, policies)."""
    rng = random.Random(seed)
    n_policies = 0
    for n in range(namespaces):
        ns = f"team-{n:03d}"
        folder = root / ns
        folder.mkdir(parents=True, exist_ok=True)
        docs = [f"""apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels:
    team: t{n:03d}
    env: {"prod" if n % 3 else "staging"}
"""]
        policies = [f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: {ns}
spec:
  podSelector: {{}}
  policyTypes: [Ingress, Egress]
""", f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-dns
  namespace: {ns}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels: {{kubernetes.io/metadata.name: kube-system}}
      podSelector:
        matchLabels: {{k8s-app: kube-dns}}
    ports:
    - {{port: 53, protocol: UDP}}
    - {{port: 53, protocol: TCP}}
"""]
        for w in range(workloads):
            name = f"svc-{w:03d}"
            tier = TIERS[w % 3]
            docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}, tier: {tier}, version: v{w % 4}}}
    spec:
      containers:
      - name: main
        image: example/{name}
        ports:
        - {{name: http, containerPort: {8000 + w}}}
        - {{name: metrics, containerPort: 9090}}
""")
            peers = sorted(rng.sample(range(workloads), min(3, workloads)))
            other_ns = rng.randrange(namespaces)
            policies.append(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}-ingress
  namespace: {ns}
spec:
  podSelector:
    matchLabels: {{app: {name}}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchExpressions:
        - {{key: app, operator: In, values: [{", ".join(f"svc-{p:03d}" for p in peers)}]}}
    ports:
    - {{port: http}}
  - from:
    - namespaceSelector:
        matchLabels: {{team: t{other_ns:03d}}}
      podSelector:
        matchExpressions:
        - {{key: tier, operator: NotIn, values: [data]}}
    ports:
    - {{port: 8000, endPort: 8100}}
  - from:
    - namespaceSelector:
        matchExpressions:
        - {{key: env, operator: Exists}}
      podSelector:
        matchLabels: {{app: svc-000}}
    ports:
    - {{port: metrics}}
""")
            if w % 20 < 11:
                policies.append(f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}-egress
  namespace: {ns}
spec:
  podSelector:
    matchLabels: {{app: {name}}}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector:
        matchLabels: {{tier: {TIERS[(w + 1) % 3]}}}
  - to:
    - ipBlock:
        cidr: 10.{n % 256}.0.0/16
        except: [10.{n % 256}.{w % 256}.0/24]
    ports:
    - {{port: 443}}
    - {{port: 5432, protocol: TCP}}
""")
        (folder / "workloads.yaml").write_text("---\n".join(docs))
        (folder / "netpol.yaml").write_text("---\n".join(policies))
        n_policies += len(policies)
    return namespaces * workloads, n_policies


def run(args: list[str]) -> tuple[float, float, int]:
    """Run netpol-fix in a child; returns (seconds, the child's peak RSS in MB, output lines)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "netpol_fix", *args],
                                stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = sum(1 for _ in out)
        if proc.returncode == 2:
            err.seek(0)
            print(err.read()[-2000:], file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024, lines


def parse_baseline(root: Path) -> float:
    """Seconds PyYAML's C loader needs just to parse every file of the tree (the yardstick
    for `scan`: the issue asks for at most 1.5 times this)."""
    import yaml

    start = time.perf_counter()
    for path in sorted(root.rglob("*.yaml")):
        with open(path, encoding="utf-8") as handle:
            for _doc in yaml.load_all(handle, Loader=yaml.CSafeLoader):
                pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", default=["40x20", "100x50"],
                        help="NAMESPACESxWORKLOADS (default: 40x20 100x50)")
    parser.add_argument("--commands", nargs="*",
                        default=["connectivity", "scan", "scan --ignore one-sided-allow"],
                        help="commands to time, each one argument (options after the name)")
    parser.add_argument("--keep", type=Path, help="write trees below this folder and keep them")
    args = parser.parse_args()
    print(f"{'tree':>8} {'workloads':>9} {'policies':>8} {'command':>30} "
          f"{'seconds':>8} {'x parse':>8} {'peak MB':>8} {'lines':>8}")
    for size in args.sizes:
        namespaces, workloads = (int(x) for x in size.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            root = (args.keep / size) if args.keep else Path(tmp)
            n_workloads, n_policies = generate(root, namespaces, workloads)
            baseline = parse_baseline(root)
            print(f"{size:>8} {n_workloads:>9} {n_policies:>8} {'yaml parse':>30} "
                  f"{baseline:>8.2f} {1:>8.2f} {'':>8} {'':>8}", flush=True)
            for command in args.commands:
                seconds, peak, lines = run([*command.split(), str(root)])
                print(f"{size:>8} {n_workloads:>9} {n_policies:>8} {command:>30} "
                      f"{seconds:>8.2f} {seconds / baseline:>8.2f} {peak:>8.0f} {lines:>8}",
                      flush=True)


if __name__ == "__main__":
    main()
