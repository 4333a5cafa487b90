#!/usr/bin/env python3
"""Startup time of trivial commands against `python -c "import click, yaml"`.

The target (README, "Fast start"): `netpol-fix rules` within 2x the time of importing
click and PyYAML, the two libraries every command needs, in the same interpreter on the
same machine. The runs are interleaved (baseline, command, baseline, ...) so that load
from other processes hits both alike; the minimum of each is compared, as the least
disturbed run. The package is byte-compiled first: an installed package is, and with
PYTHONDONTWRITEBYTECODE set every run would compile every module again.

Also prints the `-X importtime` entries of `netpol-fix rules` with the largest cumulative
time, and which heavy modules (kubernetes, jsonpatch, the PR or cluster code) each command
loads (none is expected).

Usage: python scripts/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = [sys.executable, "-c", "import click, yaml"]
HEAVY = ("kubernetes", "urllib3", "jsonpatch", "jsonpointer", "ruamel", "netpol_fix.pr",
         "netpol_fix.cluster", "netpol_fix.yamledit")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "netpol_fix", *args]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - start


def importtime(argv: list[str], top: int) -> list[tuple[int, str]]:
    """(cumulative microseconds, module) of the slowest imports of one run."""
    run = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=REPO,
                         capture_output=True, text=True, check=False)
    rows = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def heavy_modules(args: list[str]) -> list[str]:
    script = ("import sys\nfrom netpol_fix.cli import main\ntry:\n"
              f"    main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
              "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, check=False).stdout
    return [m for m in out.splitlines() if m.startswith(HEAVY)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    compileall.compile_dir(str(REPO / "netpol_fix"), quiet=1)
    with tempfile.TemporaryDirectory() as tiny:
        (Path(tiny) / "app.yaml").write_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop, labels: "
            "{app: web}}\nspec: {containers: [{name: c, image: i}]}\n---\n"
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, "
            "namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress]}\n")
        cases = {
            "netpol-fix rules": command("rules"),
            "netpol-fix explain (tiny dir)": command(
                "explain", tiny, "--from", "shop/web", "--to", "shop/web", "--port", "80"),
        }
        samples: dict[str, list[float]] = {"import click, yaml": []}
        samples.update({name: [] for name in cases})
        for _ in range(options.runs):
            samples["import click, yaml"].append(timed(BASELINE))
            for name, argv in cases.items():
                samples[name].append(timed(argv))
                samples["import click, yaml"].append(timed(BASELINE))
        base = min(samples["import click, yaml"])
        print(f"{'what':<32} {'min':>8} {'median':>8} {'max':>8}  ratio (min / baseline min)")
        for name, values in samples.items():
            print(f"{name:<32} {min(values) * 1000:7.1f}ms {statistics.median(values) * 1000:7.1f}ms"
                  f" {max(values) * 1000:7.1f}ms  {min(values) / base:.2f}x")
        print("\nheavy modules loaded:")
        for name, args in (("rules", ["rules"]),
                           ("explain (tiny dir)", ["explain", tiny, "--from", "shop/web",
                                                   "--to", "shop/web", "--port", "80"])):
            print(f"  {name}: {', '.join(heavy_modules(args)) or 'none'}")
    print("\n-X importtime of `netpol-fix rules`, largest cumulative (microseconds):")
    for cumulative, name in importtime(command("rules"), 15):
        print(f"  {cumulative:>8}  {name}")


if __name__ == "__main__":
    main()
