"""`scan` and `fix --dry-run` over every project of the corpus: no crash, valid output, and
on the real-world projects exactly the findings reviewed by hand (README, "Findings on
real-world manifests"): a new finding there is a false alarm until someone reviews it.

Hidden directories are skipped when a directory is scanned, so a project whose manifests
live only under one (xunholy's `.archive/`) is scanned by naming that directory too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.rules.registry import RULES
from tests.corpus_path import CORPUS, corpus_dirs

PROJECTS = [p.name for p in corpus_dirs()]

# (rule, namespace/name) of every finding on the real-world projects, each reviewed.
REVIEWED: dict[str, set[tuple[str, str]]] = {
    "argo-cd": {
        ("policy-selects-nothing", "default/argocd-commit-server-network-policy"),
        ("policy-selects-nothing", "default/argocd-redis-ha-proxy-network-policy"),
        ("policy-selects-nothing", "default/argocd-redis-ha-server-network-policy"),
    },
    "kubeflow-manifests": {
        ("namespace-selector-unmatched", "system/allow-metrics-traffic"),
        ("namespace-selector-unmatched", "default/seaweedfs"),
        ("namespace-selector-unmatched", "kubeflow/katib-db-manager"),
        ("namespace-selector-unmatched", "kubeflow/metadata-grpc-server"),
        ("namespace-selector-unmatched", "kubeflow/ml-pipeline"),
        ("namespace-selector-unmatched", "kubeflow/model-catalog"),
        ("namespace-selector-unmatched", "kubeflow/model-registry"),
    },
    "kube-prometheus": {
        ("policy-selects-nothing", "monitoring/alertmanager-main"),
        ("host-network-pod", "monitoring/node-exporter"),
        ("policy-selects-nothing", "monitoring/prometheus-k8s"),
    },
    "calico-docs": {
        ("namespace-selector-unmatched", "client/allow-ui"),
        ("policy-types-missing", "client/allow-ui"),
        ("policy-types-missing", "default/default-deny"),
    },
    "k8s-website": {
        ("namespace-selector-unmatched", "default/test-network-policy"),
        ("policy-types-missing", "default/access-nginx"),
    },
    "online-boutique": set(),
    "flux2": set(),
    "openshift-cluster-storage-operator": set(),
    "onedr0p-home-ops": set(),
    "xunholy-k8s-gitops": {
        ("missing-dns-egress", "network-system/node-feature-discovery"),
    },
}


NO_OBJECTS = {"hubble-otel"}
"""Corpus sources that hold no Kubernetes object (captured flows only)."""


def sources_of(project: Path) -> list[str]:
    """The project, plus its hidden top-level directories that hold manifests."""
    sources = [str(project)]
    for entry in sorted(project.iterdir()):
        if entry.name.startswith(".") and entry.is_dir() and entry.name != ".git" and any(
                name.endswith((".yaml", ".yml", ".json"))
                for _, _, files in os.walk(entry) for name in files):
            sources.append(str(entry))
    return sources


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash: show its traceback
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("project", PROJECTS)
def test_scan_over_corpus_project(project: str) -> None:
    code, out, err = run("scan", "--format", "json", *sources_of(CORPUS / project))
    if project in NO_OBJECTS:
        # a run that read no Kubernetes object says so, instead of a false "no findings"
        assert (code, out) == (2, ""), err
        assert "error: no Kubernetes objects in" in err
        return
    report = json.loads(out)
    errors = [line for line in err.splitlines() if ": error: " in line or line.startswith("error")]
    # exit 2 means some input could not be read (templates, duplicate names), never a crash
    assert code == (2 if errors else 1 if report["findings"] else 0), err
    for finding in report["findings"]:
        assert finding["rule"] in RULES
        location = finding["location"]
        if location is not None:
            assert Path(location["file"]).resolve().is_relative_to(CORPUS.resolve())
    if project in REVIEWED:
        found = {(f["rule"], f"{f['object']['namespace']}/{f['object']['name']}")
                 for f in report["findings"]}
        assert found == REVIEWED[project]


@pytest.mark.parametrize("project", PROJECTS)
def test_fix_dry_run_over_corpus_project(project: str) -> None:
    """Planning every fix (the default: safe ones) and rendering its diff never crashes."""
    code, _, err = run("fix", "--dry-run", *sources_of(CORPUS / project))
    assert code in (0, 1, 2), err
    assert "Traceback" not in err
