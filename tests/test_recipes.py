"""ahmetb's NetworkPolicy recipes: what each recipe says it observed on a real cluster.

The checks in corpus `k8s-netpol-recipes/expected_results.json` are replayed through
`netpol-fix explain`: the recipe's policies, its pods and namespaces (with their labels),
and a client pod with the check's labels. One check is stale prose that contradicts its
own manifest (marked `stated_conflicts_with_manifest`): there the manifest wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from tests.corpus_path import corpus_path

RECIPES = corpus_path("k8s-netpol-recipes")
DATA = json.loads(corpus_path("k8s-netpol-recipes/expected_results.json").read_text())
EXTERNAL_CLIENT = "203.0.113.10"
EXTERNAL_SERVER = "93.184.216.34"


def cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for recipe in DATA.get("recipes", []):
        for i, check in enumerate(recipe["checks"]):
            out.append((f"{recipe['recipe']}-{recipe.get('variant', '')}#{i}", recipe, check))
    return out


def pod(namespace: str, name: str, labels: dict[str, str], ports: list[int]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "x",
                                     "ports": [{"containerPort": p} for p in ports]}]}}


def write_case(folder: Path, recipe: dict[str, Any], check: dict[str, Any]) -> tuple[str, str]:
    docs: list[dict[str, Any]] = []
    for name, labels in (recipe.get("namespaces") or {}).items():
        docs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": name, "labels": labels}})
    for p in recipe.get("pods", []):
        docs.append(pod(p["namespace"], p["name"], p["labels"], p.get("ports", [])))
    source, target = check["from"], check["to"]
    if source.get("external"):
        src = EXTERNAL_CLIENT
    else:
        docs.append(pod(source["namespace"], "client", source["labels"], []))
        src = f"{source['namespace']}/client"
    if "external" in target:
        dst = EXTERNAL_SERVER
    elif "pod" in target:
        dst = f"{target['namespace']}/{target['pod']}"
    else:
        docs.append(pod(target["namespace"], "server", target["labels"], [target["port"]]))
        dst = f"{target['namespace']}/server"
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    for i, policy in enumerate(recipe["policies"]):
        (folder / f"policy-{i}.yaml").write_bytes((RECIPES / policy).read_bytes())
    return src, dst


def test_recipes_have_checks() -> None:
    assert len(cases()) >= 25


@pytest.mark.parametrize("name, recipe, check", cases(), ids=[c[0] for c in cases()])
def test_recipe_check(tmp_path: Path, name: str, recipe: dict[str, Any],
                      check: dict[str, Any]) -> None:
    src, dst = write_case(tmp_path, recipe, check)
    args = ["explain", str(tmp_path), "--from", src, "--to", dst,
            "--protocol", check["to"]["protocol"], "--format", "json"]
    if "port" in check["to"]:
        args += ["--port", str(check["to"]["port"])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output
    verdict = json.loads(result.stdout)
    expected = check.get("by_spec") if check.get("stated_conflicts_with_manifest") \
        else check["stated"]
    assert verdict["allowed"] == (expected == "allowed"), result.stdout
    assert result.exit_code == (0 if verdict["allowed"] else 1)
