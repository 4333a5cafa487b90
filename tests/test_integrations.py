"""pre-commit hooks, the kubectl plugin, and shell completion work as documented."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def scripts() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    result: dict[str, str] = data["project"]["scripts"]
    return result


def test_pre_commit_hooks(tmp_path: Path) -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"netpol-fix", "netpol-fix-fix"}
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    files = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "examples").rglob("*"))
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)  # pre-commit's manifest
        assert hook["language"] == "python"
        pattern = re.compile(hook["files"])
        assert all(pattern.search(f) for f in ["a.yaml", "b/c.yml", "d.json"])
        assert not any(pattern.search(f) for f in ["README.md", "x.yaml.tmpl"])
        assert shlex.split(hook["entry"])[0] in scripts()
    # pre-commit runs ENTRY FILES... in the repository root; failing = non-zero exit
    before = (tmp_path / "examples/shop/netpol.yaml").read_text()
    scan = subprocess.run([str(BIN / "netpol-fix"), "scan", *files], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert scan.returncode == 1 and "missing-dns-egress" in scan.stdout
    fixed = subprocess.run([*map(str, [BIN / "netpol-fix"]), "fix", *files], cwd=tmp_path,
                           capture_output=True, text=True, check=False)
    assert fixed.returncode == 1  # unsafe fixes are left
    assert (tmp_path / "examples/shop/netpol.yaml").read_text() != before


def test_kubectl_plugin(tmp_path: Path) -> None:
    assert scripts()["kubectl-netpol_fix"] == scripts()["netpol-fix"]
    plugin = BIN / "kubectl-netpol_fix"
    assert plugin.is_file(), "install the package (pip install -e .)"
    direct = subprocess.run([str(plugin), "rules"], capture_output=True, text=True, check=True)
    assert "missing-dns-egress" in direct.stdout
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "KUBECONFIG": str(tmp_path / "none")}
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # No kubectl here (.ci/run installs Debian's kubernetes-client): apply its plugin
        # rule instead. kubectl.io docs, "Extend kubectl with plugins": a plugin is an
        # executable on PATH named kubectl-<command>, dashes in the command written as
        # underscores ("kubectl foo-bar" runs kubectl-foo_bar).
        found = shutil.which("kubectl-" + "netpol-fix".replace("-", "_"), path=env["PATH"])
        assert found is not None and Path(found) == plugin
        via = subprocess.run([found, "rules"], env=env, capture_output=True, text=True,
                             check=True)
        assert via.stdout == direct.stdout
        return
    listed = subprocess.run([kubectl, "plugin", "list"], env=env, capture_output=True,
                            text=True, check=False)
    assert str(plugin) in listed.stdout
    via = subprocess.run([kubectl, "netpol-fix", "rules"], env=env, capture_output=True,
                         text=True, check=True)
    assert via.stdout == direct.stdout


def test_shell_completion() -> None:
    env = {**os.environ, "_NETPOL_FIX_COMPLETE": "bash_source"}
    source = subprocess.run([str(BIN / "netpol-fix")], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert "_netpol_fix_completion" in source and "complete -o nosort -F" in source
    env = {**os.environ, "_NETPOL_FIX_COMPLETE": "bash_complete", "COMP_WORDS": "netpol-fix p",
           "COMP_CWORD": "1"}
    words = subprocess.run([str(BIN / "netpol-fix")], env=env, capture_output=True,
                           text=True, check=True).stdout
    assert "plain,pr" in words.splitlines()
    env.update(COMP_WORDS="netpol-fix pr --for", COMP_CWORD="2")
    words = subprocess.run([str(BIN / "netpol-fix")], env=env, capture_output=True,
                           text=True, check=True).stdout
    assert "plain,--forge" in words.splitlines()
    zsh = subprocess.run([str(BIN / "netpol-fix")], capture_output=True, text=True, check=True,
                         env={**os.environ, "_NETPOL_FIX_COMPLETE": "zsh_source"}).stdout
    assert "#compdef netpol-fix" in zsh
