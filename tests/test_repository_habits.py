"""Real repositories and a person's habits: a GitOps tree holds more than manifests, and
people type kubectl's options.

A tree with manifests beside a Helm chart, values.yaml, kustomization.yaml, compose and CI
files must be read past (exit 1 on the seeded cause, not 2); templates of a chart are
skipped with a note saying how to analyse them; `--exclude` follows gitignore's rules; a
run that read no Kubernetes object says so; `-o`, `-f`, `-n`, case-insensitive rule ids and
`--color` behave as a kubectl user expects.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.cli.group import COMMANDS
from netpol_fix.inventory.build import CILIUM_KINDS, TEMPLATE_OWNERS
from netpol_fix.inventory.kinds import READ_KINDS
from netpol_fix.inventory.selection import Excludes, chart_roots

SHOP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api, ports: [{containerPort: 8080, name: http}]}]}
---
# egress locked down, and no rule to kube-dns: every lookup times out
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""

NOT_KUBERNETES = {
    "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
    "charts/api/values.yaml": "replicaCount: 2\nimage:\n  repository: api\n",
    "charts/api/templates/netpol.yaml": (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
        "  name: {{ include \"api.fullname\" . }}\nspec:\n  podSelector: {}\n"),
    "charts/api/templates/_helpers.tpl": "{{- define \"api.fullname\" -}}api{{- end }}\n",
    "kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [apps/shop.yaml]\n"),
    "components/monitoring/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"),
    "docker-compose.yml": "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n",
    "renovate.json": '{"extends": ["config:recommended"]}\n',
    ".github/workflows/ci.yaml": "on: [push]\njobs:\n  test: {runs-on: ubuntu-latest}\n",
    ".pre-commit-config.yaml": "repos: []\n",
    "ci/pipeline.yml": "stages: [lint, test]\nlint:\n  script: [make lint]\n",
}


def gitops_tree(root: Path) -> Path:
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "shop.yaml").write_text(SHOP)
    for name, text in NOT_KUBERNETES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def test_gitops_tree_finds_the_seeded_cause_and_exits_1(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    code, out, err = run("scan", str(tree))
    assert code == 1, err
    assert "missing-dns-egress" in out
    assert "error" not in err
    # one note per chart, saying how to analyse it
    assert f"{tree / 'charts' / 'api'}: a Helm chart; its templates are not analysed" in out
    assert f"helm template {tree / 'charts' / 'api'} | netpol-fix scan -" in out
    # one note counting the files that hold no Kubernetes object
    assert "skipped 5 file(s) that hold no Kubernetes object (-v lists them)" in out


def test_verbose_lists_the_skipped_files(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    code, out, err = run("scan", str(tree), "-v", "-o", "json")
    assert code == 1
    listed = sorted(line.removeprefix("note: skipped ").removesuffix(
        ": no Kubernetes object in it") for line in err.splitlines()
        if line.endswith("no Kubernetes object in it"))
    # Kustomization and Component carry apiVersion and kind: objects of a kind netpol-fix
    # does not read, so they are read and ignored, not counted as skipped
    assert listed == sorted(str(tree / name) for name in (
        "charts/api/Chart.yaml", "charts/api/values.yaml", "docker-compose.yml",
        "renovate.json", "ci/pipeline.yml"))
    assert json.loads(out)["findings"]


def test_templated_file_outside_a_chart_stays_an_error(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    (tree / "apps" / "loose.yaml").write_text(NOT_KUBERNETES["charts/api/templates/netpol.yaml"])
    code, _out, err = run("scan", str(tree))
    assert code == 2
    assert "loose.yaml" in err and "template" in err


def test_a_broken_object_of_a_read_kind_is_still_an_error(tmp_path: Path) -> None:
    """A NetworkPolicy without apiVersion is a broken manifest, not tool configuration."""
    (tmp_path / "np.yaml").write_text(
        "kind: NetworkPolicy\nmetadata: {name: a, namespace: x}\nspec: {podSelector: {}}\n")
    code, _out, err = run("scan", str(tmp_path))
    assert code == 2
    assert "np.yaml:1 (document 0): error: is missing `apiVersion`" in err


def test_inventory_kinds_are_all_read_kinds() -> None:
    """Every kind the inventory builder reads is in READ_KINDS, so that a broken manifest
    of it is an error and never skipped as tool configuration."""
    assert {"NetworkPolicy", "Namespace", "Pod", "Service"} <= READ_KINDS
    assert set(TEMPLATE_OWNERS) <= READ_KINDS
    assert set(CILIUM_KINDS) <= READ_KINDS


@pytest.mark.parametrize("command", [
    ["scan"], ["connectivity"], ["fix", "--dry-run"],
    ["explain", "--from", "a/b", "--to", "a/c"],
])
def test_a_run_that_read_no_kubernetes_object_says_so(tmp_path: Path,
                                                      command: list[str]) -> None:
    (tmp_path / "values.yaml").write_text("replicaCount: 1\n")
    code, out, err = run(*command, str(tmp_path))
    assert code == 2
    assert f"error: no Kubernetes objects in {tmp_path} (1 file(s) held none; -v lists " \
           "them)" in err
    assert "No findings" not in out


def test_diff_of_two_empty_trees_says_so(tmp_path: Path) -> None:
    for side in ("old", "new"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "values.yaml").write_text("a: 1\n")
    code, out, err = run("diff", str(tmp_path / "old"), str(tmp_path / "new"))
    assert code == 2
    assert "no Kubernetes objects in" in err
    assert "Connectivity is the same" not in out


def test_exclude_skips_a_directory_and_a_glob(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    (tree / "legacy").mkdir()
    (tree / "legacy" / "broken.yaml").write_text("kind: Pod\n")  # an error if read
    code, _out, err = run("scan", str(tree))
    assert code == 2 and "broken.yaml" in err
    code, _out, err = run("scan", str(tree), "--exclude", "legacy/")
    assert code == 1, err
    code, _out, err = run("scan", str(tree), "--exclude", "**/broken.yaml")
    assert code == 1, err
    # an anchored pattern is relative to the SOURCES directory
    code, _out, err = run("scan", str(tree), "--exclude", "/legacy")
    assert code == 1, err


def test_exclude_in_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`exclude:` in .netpol-fix.yaml, relative to its folder; --exclude adds to it."""
    tree = gitops_tree(tmp_path / "repo")
    (tree / ".git").mkdir()
    (tree / "legacy").mkdir()
    (tree / "legacy" / "broken.yaml").write_text("kind: Pod\n")
    (tree / "apps" / "old.yaml").write_text("kind: Service\n")
    (tree / ".netpol-fix.yaml").write_text("exclude:\n  - legacy/\n")
    monkeypatch.chdir(tree)
    code, _out, err = run("scan", ".")
    assert code == 2 and "old.yaml" in err and "broken.yaml" not in err
    code, _out, err = run("scan", ".", "--exclude", "apps/old.yaml")
    assert code == 1, err
    # the config's patterns are relative to its folder, also when SOURCES is a subfolder
    (tree / ".netpol-fix.yaml").write_text("exclude: [apps/old.yaml]\n")
    code, _out, err = run("scan", "apps")
    assert code == 1, err


@pytest.mark.parametrize(("pattern", "path", "is_dir", "expected"), [
    # gitignore, PATTERN FORMAT: no slash matches at any depth
    ("*.json", "renovate.json", False, True),
    ("*.json", "a/b/renovate.json", False, True),
    ("charts", "x/charts", True, True),
    # a slash at the start or in the middle anchors it to the root
    ("/charts", "x/charts", True, False),
    ("/charts", "charts", True, True),
    ("doc/frotz", "a/doc/frotz", True, False),
    ("doc/frotz", "doc/frotz", True, True),
    # a trailing slash matches directories only
    ("legacy/", "legacy", False, False),
    ("legacy/", "legacy", True, True),
    # `*` does not cross `/`; `**` does
    ("apps/*.yaml", "apps/a/b.yaml", False, False),
    ("apps/**/b.yaml", "apps/a/c/b.yaml", False, True),
    ("apps/**/b.yaml", "apps/b.yaml", False, True),
    ("**/foo", "foo", True, True),
    ("abc/**", "abc/x/y", False, True),
    ("a?c.yaml", "abc.yaml", False, True),
    ("[ab]*.yaml", "b1.yaml", False, True),
    ("[!ab]*.yaml", "b1.yaml", False, False),
])
def test_gitignore_pattern_rules(pattern: str, path: str, is_dir: bool,
                                 expected: bool) -> None:
    assert Excludes([pattern]).excluded(path, is_dir) is expected


def test_gitignore_negation_and_comments() -> None:
    excludes = Excludes(["# generated files", "*.yaml", "!keep.yaml", ""])
    assert excludes.excluded("drop.yaml", False)
    assert not excludes.excluded("keep.yaml", False)
    # a file under an excluded directory cannot be re-included
    assert Excludes(["out/", "!out/keep.yaml"]).excludes_path("out/keep.yaml")


def test_chart_roots() -> None:
    files = ["charts/api/Chart.yaml", "charts/api/templates/a.yaml", "charts/db/Chart.yaml",
             "Chart.yaml", "templates/x.yaml", "apps/a.yaml"]
    # charts/db has no templates: its Chart.yaml is only a file to skip
    assert chart_roots(files) == ["", "charts/api"]


def test_git_source_skips_chart_templates_and_honours_exclude(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = gitops_tree(tmp_path / "repo")
    (tree / "legacy").mkdir()
    (tree / "legacy" / "broken.yaml").write_text("kind: Pod\n")
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "tree"], check=True)
    monkeypatch.chdir(tree)
    code, _out, err = run("diff", "git:HEAD", ".", "--exclude", "legacy/")
    assert code == 0, err
    assert "git:HEAD:charts/api: a Helm chart; its templates are not analysed" in err
    code, _out, err = run("diff", "git:HEAD", ".")
    assert code == 2 and "broken.yaml" in err


def test_output_is_format(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    assert run("scan", str(tree), "-o", "json")[1] == run("scan", str(tree),
                                                          "--format", "json")[1]
    assert run("scan", str(tree), "--output", "sarif")[1] == run(
        "scan", str(tree), "--format", "sarif")[1]


def test_filename_is_repeatable_like_kubectl(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    apps = tree / "apps" / "shop.yaml"
    code, out, _err = run("connectivity", "-f", str(apps), "-f", str(tree / "charts"))
    assert code == 0
    assert out == run("connectivity", str(apps))[1]


def test_namespace_without_cluster_names_explain_endpoints(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    by_flag = run("explain", str(tree), "-n", "shop", "--from", "web", "--to", "api",
                  "--port", "8080")
    spelt = run("explain", str(tree), "--from", "shop/web", "--to", "shop/api",
                "--port", "8080")
    assert by_flag == spelt
    assert by_flag[0] == 1
    # other commands still say -n needs --cluster
    code, _out, err = run("scan", str(tree), "-n", "shop")
    assert code == 2 and "add --cluster" in err


def test_rule_ids_are_case_insensitive(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    assert run("scan", str(tree), "--select", "MISSING-DNS-EGRESS")[1] == run(
        "scan", str(tree), "--select", "missing-dns-egress")[1]
    assert run("rule", "Missing-DNS-Egress") == run("rule", "missing-dns-egress")
    assert run("rule", "Missing-DNS-Egress")[0] == 0


def test_color_always_and_never(tmp_path: Path) -> None:
    tree = gitops_tree(tmp_path / "repo")
    # CliRunner is no terminal: auto strips colours, always keeps them (for less -R)
    assert "\x1b[" not in run("fix", "--dry-run", str(tree))[1]
    assert "\x1b[" in run("fix", "--dry-run", "--color", "always", str(tree))[1]
    assert "\x1b[" not in run("fix", "--dry-run", "--color", "never", str(tree))[1]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_has_examples_and_exit_codes(command: str) -> None:
    code, out, _err = run(command, "--help")
    assert code == 0
    assert "Examples:" in out
    assert "Exit code" in out
