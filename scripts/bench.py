#!/usr/bin/env python3
"""Benchmark: generate synthetic GitOps trees and time `connectivity` and `scan` on them.

Each tree has N namespaces with W Deployments each, a default-deny (ingress and egress) and
a DNS allowance per namespace, a per-workload ingress policy (matchExpressions,
namespaceSelectors, named ports, endPort) and per-workload egress policies (pod and
namespace peers, ipBlocks with except). Two kinds (see generate()): `consistent`, a
maintained repository whose egress follows its ingress rules, with ~1% of the workloads
seeded with a one-sided gap; `broken`, where nearly every policy has true one-sided gaps
(about a million flows at 5,000 workloads), which measures the cost per finding; `tiered`,
the least-privilege tree of issue 16 whose broad ingress rules admit far more pods than
ever call (see generate_tiered()). Prints one line of figures per tree, size and command;
not a test.

Every figure is the best of --repeat runs (default 3), the parse baseline too, and the runs
are interleaved (each round runs the parse and every command once): on a shared 2-core
machine a single run varies by a third, and the load changes from minute to minute. The package is byte-compiled first, as a
pip install does, so no run pays for compiling it (PYTHONDONTWRITEBYTECODE would make
every child compile it again).

    python scripts/bench.py                     # every tree, the two target sizes
    python scripts/bench.py --trees consistent  # one kind
    python scripts/bench.py --sizes 10x10       # N namespaces x W workloads
    python scripts/bench.py --keep DIR          # write the trees below DIR and keep them
    python scripts/bench.py --repeat 1          # one run each, faster
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIERS = ("front", "back", "data")
TREES = ("consistent", "broken", "tiered", "kinds")


def default_deny(ns: str) -> str:
    """A namespace's default-deny for Ingress and Egress."""
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: {ns}
spec:
  podSelector: {{}}
  policyTypes: [Ingress, Egress]
"""


def allow_dns(ns: str) -> str:
    """Egress to the cluster DNS pods on UDP and TCP 53 for every pod of the namespace."""
    return f"""apiVersion: networking.k8s.io/v1
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
"""


def generate(root: Path, namespaces: int, workloads: int, seed: int = 7,
             consistent: bool = False, kinds: bool = False) -> tuple[int, int]:
    """Write the tree; returns (workloads, policies).

    The default tree is not a working system: its ingress rules admit peers whose egress
    never allows that traffic, and 55% of its egress policies allow a whole tier that the
    tier's ingress rules do not admit, so nearly every policy has a true one-sided-allow
    finding. `consistent` writes what a maintained repository looks like instead: every
    workload's egress allows exactly the calls its peers' ingress rules admit, except for
    about 1% of the workloads, which forget their calls within the namespace (seeded
    findings). Its ingress policies differ in one point: the namespace rule admits one
    partner namespace per namespace (the default tree draws one per workload, which no
    egress rule could follow without listing every workload).

    `kinds` is the consistent tree with other policy kinds: a quarter of the workloads'
    ingress policies are CiliumNetworkPolicies with the same rules, and three
    AdminNetworkPolicies and the BaselineAdminNetworkPolicy sit on top (admin_policies()).
    """
    consistent = consistent or kinds
    rng = random.Random(seed)
    # the random choices first (in the order the original generator drew them), so that
    # each workload's egress can follow the ingress rules that name it
    draws = [[(sorted(rng.sample(range(workloads), min(3, workloads))), rng.randrange(namespaces))
              for _ in range(workloads)] for _ in range(namespaces)]
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
        policies = [default_deny(ns), allow_dns(ns)]
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
            peers, other_ns = draws[n][w]
            if consistent:
                other_ns = partner(draws, n)
            if kinds and (n * workloads + w) % 4 == 0:
                policies.append(cilium_ingress(ns, name, peers, other_ns))
            else:
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
            if consistent:
                policy = consistent_egress(draws, n, w)
                if policy:
                    policies.append(policy)
            elif w % 20 < 11:
                policies.append(egress_policy(ns, name, [f"""  - to:
    - podSelector:
        matchLabels: {{tier: {TIERS[(w + 1) % 3]}}}""", ip_block_rule(n, w)]))
        if kinds and n == 0:
            policies += admin_policies()
        (folder / "workloads.yaml").write_text("---\n".join(docs))
        (folder / "netpol.yaml").write_text("---\n".join(policies))
        n_policies += len(policies)
    return namespaces * workloads, n_policies


def generate_tiered(root: Path, namespaces: int, workloads: int) -> tuple[int, int]:
    """The tree of issue 16: least privilege on both sides, written as many GitOps
    repositories are. Each namespace has a default-deny for Ingress and Egress and (but
    every tenth) a DNS allowance; every workload's ingress admits `tier: web` pods of its
    own namespace, of its team's namespaces (namespaceSelector `team`), of the `prod`
    namespaces (namespaceSelector `env`) and of the next namespace (by name); its egress
    allows one partner workload (a web workload calls the next workload of its namespace,
    by namespace name and `app`) and an ipBlock. So the broad ingress rules admit far more
    pods than ever call, as designed: no finding. Seeded: the namespaces without the DNS
    allowance (expected `missing-dns-egress` findings, one per namespace) and about 1% of
    the web workloads calling a partner in a namespace whose ingress does not admit them
    (true narrow `one-sided-allow` gaps). Returns (workloads, policies)."""
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
    team: t{n // 5:03d}
    env: {"prod" if n % 3 else "staging"}
"""]
        policies = [default_deny(ns)]
        if n % 10 != 9:
            policies.append(allow_dns(ns))
        for w in range(workloads):
            name = f"svc-{w:03d}"
            tier = TIERS_TIERED[w % 3]
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
      labels: {{app: {name}, tier: {tier}}}
    spec:
      containers:
      - name: main
        image: example/{name}
        ports:
        - {{name: http, containerPort: {8000 + w}}}
""")
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
        matchLabels: {{tier: web}}
    - namespaceSelector:
        matchLabels: {{team: t{n // 5:03d}}}
      podSelector:
        matchLabels: {{tier: web}}
    - namespaceSelector:
        matchLabels: {{env: prod}}
      podSelector:
        matchLabels: {{tier: web}}
    - namespaceSelector:
        matchLabels: {{kubernetes.io/metadata.name: team-{(n + 1) % namespaces:03d}}}
      podSelector:
        matchLabels: {{tier: web}}
    ports:
    - {{port: http}}
""")
            rules = [ip_block_rule(n, w)]
            if tier == "web":
                # a seeded gap: a web workload of a staging namespace (which no `env: prod`
                # selector admits) calls a namespace of another team whose by-name rule
                # admits a third namespace
                seeded = n % 3 == 0 and (n * workloads + w) % 31 == 3 and namespaces >= 12
                other = (n + 7) % namespaces if seeded else n
                while seeded and (other // 5 == n // 5 or (other + 1) % namespaces == n):
                    other = (other + 1) % namespaces
                callee = (w + 1) % workloads
                rules.insert(0, f"""  - to:
    - namespaceSelector:
        matchLabels: {{kubernetes.io/metadata.name: team-{other:03d}}}
      podSelector:
        matchLabels: {{app: svc-{callee:03d}}}
    ports:
    - {{port: http}}""")
            policies.append(egress_policy(ns, name, rules))
        (folder / "workloads.yaml").write_text("---\n".join(docs))
        (folder / "netpol.yaml").write_text("---\n".join(policies))
        n_policies += len(policies)
    return namespaces * workloads, n_policies


TIERS_TIERED = ("web", "api", "data")


def cilium_ingress(ns: str, name: str, peers: list[int], other_ns: int) -> str:
    """The workload's ingress policy of the default tree as a CiliumNetworkPolicy: the same
    peers (the partner namespace by name) and ports."""
    return f"""apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: {name}-ingress
  namespace: {ns}
spec:
  endpointSelector:
    matchLabels: {{app: {name}}}
  ingress:
  - fromEndpoints:
    - matchExpressions:
      - {{key: app, operator: In, values: [{", ".join(f"svc-{p:03d}" for p in peers)}]}}
    toPorts:
    - ports: [{{port: http, protocol: TCP}}]
  - fromEndpoints:
    - matchLabels: {{k8s:io.kubernetes.pod.namespace: team-{other_ns:03d}}}
      matchExpressions:
      - {{key: tier, operator: NotIn, values: [data]}}
    toPorts:
    - ports: [{{port: "8000", endPort: 8100, protocol: TCP}}]
  - fromEndpoints:
    - matchLabels: {{app: svc-000}}
      matchExpressions:
      - {{key: io.kubernetes.pod.namespace, operator: Exists}}
    toPorts:
    - ports: [{{port: metrics, protocol: TCP}}]
"""


def admin_policies() -> list[str]:
    """What a platform team puts above the namespaces: DNS for everyone, no database port
    from staging to prod, metrics scrapes passed to the namespaces, a baseline deny."""
    return ["""apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-dns}
spec:
  priority: 5
  subject: {namespaces: {}}
  egress:
  - name: dns
    action: Allow
    to: [{pods: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
                 podSelector: {matchLabels: {k8s-app: kube-dns}}}}]
    ports: [{portNumber: {protocol: UDP, port: 53}}, {portNumber: {protocol: TCP, port: 53}}]
""", """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: no-staging-to-prod-db}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - name: no-db-from-staging
    action: Deny
    from: [{namespaces: {matchLabels: {env: staging}}}]
    ports: [{portNumber: {protocol: TCP, port: 5432}}]
""", """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: pass-metrics}
spec:
  priority: 20
  subject: {namespaces: {}}
  ingress:
  - name: metrics
    action: Pass
    from: [{namespaces: {}}]
    ports: [{portNumber: {protocol: TCP, port: 9090}}]
""", """apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - name: deny-other-namespaces
    action: Deny
    from: [{namespaces: {matchLabels: {env: staging}}}]
"""]


def partner(draws: list[list[tuple[list[int], int]]], n: int) -> int:
    """The consistent tree's one namespace whose `team` namespace n's ingress admits on
    8000-8100 (the default tree draws one per workload)."""
    return draws[n][0][1]


def consistent_egress(draws: list[list[tuple[list[int], int]]], n: int, w: int) -> str:
    """Workload w of namespace n: egress to exactly the workloads whose ingress admits it
    (same namespace on `http`, the namespaces whose partner it is on 8000-8100, svc-000's
    metrics scrape) plus the ipBlock rule of the default tree for 55% of the workloads;
    about 1% of the workloads forget their same-namespace calls."""
    ns, name = f"team-{n:03d}", f"svc-{w:03d}"
    rules = []
    callees = [v for v, (peers, _) in enumerate(draws[n]) if w in peers and v != w]
    if callees and (n * len(draws[n]) + w) % 97 != 5:
        rules.append(f"""  - to:
    - podSelector:
        matchExpressions:
        - {{key: app, operator: In, values: [{", ".join(f"svc-{v:03d}" for v in callees)}]}}
    ports:
    - {{port: http}}""")
    if TIERS[w % 3] != "data":
        clients_of = [m for m in range(len(draws)) if partner(draws, m) == n]
        if clients_of:
            rules.append(f"""  - to:
    - namespaceSelector:
        matchExpressions:
        - {{key: team, operator: In, values: [{", ".join(f"t{m:03d}" for m in clients_of)}]}}
    ports:
    - {{port: 8000, endPort: 8100}}""")
    if w == 0:
        rules.append("""  - to:
    - namespaceSelector:
        matchExpressions:
        - {key: env, operator: Exists}
    ports:
    - {port: metrics}""")
    if w % 20 < 11:
        rules.append(ip_block_rule(n, w))
    return egress_policy(ns, name, rules) if rules else ""


def ip_block_rule(n: int, w: int) -> str:
    """The egress rule to the namespace's /16 but the workload's own /24."""
    return f"""  - to:
    - ipBlock:
        cidr: 10.{n % 256}.0.0/16
        except: [10.{n % 256}.{w % 256}.0/24]
    ports:
    - {{port: 443}}
    - {{port: 5432, protocol: TCP}}"""


def egress_policy(ns: str, name: str, rules: list[str]) -> str:
    """The workload's egress policy with these rules (YAML list items, two spaces in)."""
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}-egress
  namespace: {ns}
spec:
  podSelector:
    matchLabels: {{app: {name}}}
  policyTypes: [Egress]
  egress:
""" + "\n".join(rules) + "\n"


def run(args: list[str]) -> tuple[float, float, int, str]:
    """Run netpol-fix in a child; returns (seconds, the child's peak RSS in MB, its output
    lines, the last non-empty one)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "netpol_fix", *args],
                                stdout=out, stderr=err, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        last, lines = "", 0
        for line in out:
            lines += 1
            last = line.strip() or last
        if proc.returncode == 2:
            err.seek(0)
            print(err.read()[-2000:], file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024, lines, last


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


def compile_package() -> None:
    """Write the package's bytecode, as installing it does."""
    import netpol_fix

    compileall.compile_dir(Path(netpol_fix.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", default=["40x20", "100x50"],
                        help="NAMESPACESxWORKLOADS (default: 40x20 100x50)")
    parser.add_argument("--trees", nargs="*", choices=TREES, default=list(TREES),
                        help="which trees (default: all; see generate(), generate_tiered())")
    parser.add_argument("--commands", nargs="*",
                        default=["connectivity", "scan", "scan --ignore one-sided-allow"],
                        help="commands to time, each one argument (options after the name)")
    parser.add_argument("--keep", type=Path,
                        help="write trees below this folder (TREE-SIZE/) and keep them")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per figure, the best one is shown (default: 3)")
    args = parser.parse_args()
    compile_package()
    print(f"{'tree':>10} {'size':>6} {'workloads':>9} {'policies':>8} {'command':>30} "
          f"{'seconds':>8} {'x parse':>8} {'peak MB':>8} {'findings':>8}")
    for kind in args.trees:
        for size in args.sizes:
            namespaces, workloads = (int(x) for x in size.split("x"))
            with tempfile.TemporaryDirectory() as tmp:
                root = (args.keep / f"{kind}-{size}") if args.keep else Path(tmp)
                if kind == "tiered":
                    n_workloads, n_policies = generate_tiered(root, namespaces, workloads)
                else:
                    n_workloads, n_policies = generate(root, namespaces, workloads,
                                                       consistent=kind == "consistent",
                                                       kinds=kind == "kinds")
                # interleaved: round after round, the parse and every command once each,
                # so a load change on the shared machine hits them alike; best per figure
                baseline = float("inf")
                results: dict[str, tuple[float, float, int, str]] = {}
                for _ in range(max(1, args.repeat)):
                    baseline = min(baseline, parse_baseline(root))
                    for command in args.commands:
                        result = run([*command.split(), str(root)])
                        if command not in results or result[0] < results[command][0]:
                            results[command] = result
                head = f"{kind:>10} {size:>6} {n_workloads:>9} {n_policies:>8}"
                print(f"{head} {'yaml parse':>30} {baseline:>8.2f} {1:>8.2f}", flush=True)
                for command in args.commands:
                    seconds, peak, _lines, last = results[command]
                    found = re.match(r"Found (\d+) finding", last)
                    findings = found.group(1) if found else ("0" if "No findings" in last
                                                             else "")
                    print(f"{head} {command:>30} {seconds:>8.2f} {seconds / baseline:>8.2f} "
                          f"{peak:>8.0f} {findings:>8}", flush=True)


if __name__ == "__main__":
    main()
