#!/usr/bin/env python3
"""Benchmark `drops` reading: 200,000 generated Hubble jsonpb lines, read and grouped,
against a plain `json.loads` of every line (the target: at most 3x), with the peak RSS.

The lines copy the shape of the real hubble-otel samples (full label lists, ethernet, IP,
l4 with flags, trace and policy-verdict events, ~1 KB each): 90% forwarded traffic of
established connections and replies (counted only), 5% new connections (grouped), 5%
drops, over 40 pods of 20 Deployments in 4 namespaces. Each phase runs in its own
process, best of --repeat runs; the whole command (`netpol-fix drops ... --format json`,
explaining every group) is timed too. Not a test: it prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAMESPACES = ["shop", "payments", "search", "ops"]
APPS = [f"app{i}" for i in range(5)]


def pod(namespace: str, app: str, n: int) -> dict[str, object]:
    return {"ID": 1000 + n, "identity": 20000 + hash((namespace, app)) % 10000,
            "namespace": namespace,
            "labels": [f"k8s:app={app}", ("k8s:io.cilium.k8s.namespace.labels."
                       f"kubernetes.io/metadata.name={namespace}"),
                       "k8s:io.cilium.k8s.policy.cluster=kind-kind",
                       f"k8s:io.cilium.k8s.policy.serviceaccount={app}",
                       f"k8s:io.kubernetes.pod.namespace={namespace}", "k8s:version=v1"],
            "pod_name": f"{app}-6b746f74dc-{n:05d}"[:len(app) + 17]}


def line(rng: random.Random, second: float, dropped: float = 0.05) -> str:
    src_ns, dst_ns = rng.choice(NAMESPACES), rng.choice(NAMESPACES)
    src = pod(src_ns, rng.choice(APPS), rng.randrange(2))
    dst = pod(dst_ns, rng.choice(APPS), rng.randrange(2))
    kind = rng.random()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_780_000_000 + int(second)))
    stamp += f".{int(second % 1 * 1e9):09d}Z"
    flow: dict[str, object] = {
        "time": stamp, "verdict": "FORWARDED",
        "ethernet": {"source": "d2:d9:76:de:f4:90", "destination": "6e:3c:ce:d3:9e:a6"},
        "IP": {"source": f"10.244.0.{rng.randrange(250)}",
               "destination": f"10.244.1.{rng.randrange(250)}", "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": rng.randrange(30000, 60000),
                       "destination_port": rng.choice([80, 8080, 9080, 5432]),
                       "flags": {"ACK": True}}},
        "source": src, "destination": dst, "Type": "L3_L4", "node_name": "kind-worker",
        "event_type": {"type": 4, "sub_type": 1}, "traffic_direction": "EGRESS",
        "trace_observation_point": "TO_ENDPOINT", "is_reply": kind < 0.45,
        "Summary": "TCP Flags: ACK"}
    if kind >= 0.90:
        flow["l4"] = {"TCP": {"source_port": rng.randrange(30000, 60000),
                              "destination_port": rng.choice([80, 8080, 9080, 5432]),
                              "flags": {"SYN": True}}}
        flow["is_reply"] = False
        flow["Summary"] = "TCP Flags: SYN"
    if rng.random() < dropped:
        flow["is_reply"] = False
        flow.update({"verdict": "DROPPED", "drop_reason": 133,
                     "drop_reason_desc": "POLICY_DENIED",
                     "event_type": {"type": 1, "sub_type": 133}})
    return json.dumps({"flow": flow, "node_name": "kind-worker", "time": stamp},
                      separators=(",", ":"))


def generate(path: Path, count: int, dropped: float = 0.05) -> None:
    rng = random.Random(19)
    with path.open("w") as out:
        for i in range(count):
            out.write(line(rng, i * 0.001, dropped) + "\n")


def sources(path: Path) -> None:
    docs = []
    for namespace in NAMESPACES:
        docs.append(f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
                    f"  name: default-deny\n  namespace: {namespace}\nspec:\n"
                    "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n")
        for app in APPS:
            docs.append(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n"
                        f"  namespace: {namespace}\nspec:\n  template:\n    metadata:\n"
                        f"      labels: {{app: {app}, version: v1}}\n    spec:\n"
                        f"      containers: [{{name: c, image: i}}]\n")
    path.write_text("---\n".join(docs))


PHASES = {
    "json.loads": """
import json, sys
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line)
""",
    "read+group": """
import sys
from netpol_fix.drops.group import Grouper
from netpol_fix.drops.read import BadLines, read_flows
from netpol_fix.drops.resolve import Resolver
from netpol_fix.inventory.load import load_inventory
inventory = load_inventory([sys.argv[2]], sys.stdin)
grouper = Grouper(Resolver(inventory.workloads))
for flow in read_flows([sys.argv[1]], BadLines()):
    grouper.add(flow)
print(len(grouper.groups), grouper.flows, file=sys.stderr)
""",
}


RSS = "\nimport resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, " \
      "file=sys.stderr)\n"
COMMAND = """
import sys
from netpol_fix.cli import main
sys.argv = ["netpol-fix", "drops", sys.argv[2], "--flows", sys.argv[1], "--format", "json"]
try:
    main()
except SystemExit:
    pass
"""


def run_phase(code: str, *args: str) -> tuple[float, int]:
    """Seconds and the peak RSS in bytes of one run in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + RSS, *args], check=False, cwd=REPO,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return elapsed, int(proc.stderr.strip().splitlines()[-1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dropped", type=float, default=0.05,
                        help="share of drop lines (the rest: forwarded traffic)")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "netpol_fix")],
                   check=True)
    with tempfile.TemporaryDirectory() as tmp:
        flows, repo = Path(tmp) / "flows.json", Path(tmp) / "repo.yaml"
        generate(flows, args.lines, args.dropped)
        sources(repo)
        size = os.path.getsize(flows)
        print(f"{args.lines:,} lines ({args.dropped:.0%} drops), {size / 1e6:.0f} MB")
        results: dict[str, tuple[float, int]] = {}
        phases = {**PHASES, "drops command": COMMAND}
        for _ in range(args.repeat):  # interleaved, best of each
            for name, code in phases.items():
                got = run_phase(code, str(flows), str(repo))
                best = results.get(name)
                results[name] = got if best is None or got[0] < best[0] else best
        base = results["json.loads"][0]
        for name, (seconds, rss) in results.items():
            print(f"{name:<14} {seconds:7.2f} s  {seconds / base:5.2f}x json.loads  "
                  f"peak RSS {rss / 2**20:5.0f} MB")


if __name__ == "__main__":
    main()
