"""Hostile documents (issue 15, defects 2, 4, 7, 8, 9): bombs and deep nesting refused fast
with file:line, invalid objects refused as the API server refuses them, nothing echoed that
a terminal or a CI log would execute."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from netpol_fix.cli import main
from netpol_fix.inventory import files as inventory_files
from netpol_fix.inventory import texts
from netpol_fix.inventory.sources import clear_text_cache
from netpol_fix.model.objects import InputError
from netpol_fix.model.text import inert
from tests.pr.conftest import REPO

SHOP = REPO / "examples" / "shop"


def invoke(*args: str) -> Result:
    clear_text_cache()
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    return result


def laughs(levels: int, fanout: int, kind: str = "ConfigMap") -> str:
    """The billion laughs: each anchor a list of `fanout` aliases of the one before."""
    lines = ["apiVersion: v1", f"kind: {kind}", "metadata: {name: lol, namespace: a}",
             "data:", '  a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fanout) + "]")
    return "\n".join(lines) + "\n"


def million_rules() -> str:
    """620 bytes that expand to a million ingress rules."""
    lines = ["apiVersion: networking.k8s.io/v1", "kind: NetworkPolicy",
             "metadata: {name: p, namespace: a}", "spec:", "  podSelector: {}",
             "  x0: &r0 {from: [{podSelector: {}}]}"]
    for i in range(1, 7):
        lines.append(f"  x{i}: &r{i} [" + ", ".join([f"*r{i - 1}"] * 10) + "]")
    lines.append("  ingress: *r6")
    return "\n".join(lines) + "\n"


def merge_bomb() -> str:
    """The same through merge keys, which PyYAML (not the fast path) constructs."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: m, namespace: a}",
             "data:", "  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}"]
    for i in range(1, 9):
        keys = ", ".join(f"k{j}: *m{i - 1}" for j in range(9))
        lines.append(f"  m{i}: &m{i} {{<<: *m{i - 1}, {keys}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [laughs(9, 9), laughs(12, 12), million_rules(), merge_bomb()],
                         ids=["billion-laughs", "bigger", "million-rules", "merge-keys"])
def test_alias_bombs_are_refused_in_well_under_a_second(tmp_path: Path, text: str) -> None:
    """Kubernetes' YAML reader (go-yaml decode.go) fails "document contains excessive
    aliasing" when more than 99% of a small document's decoded nodes come from aliases."""
    assert len(text) < 1000
    (tmp_path / "bomb.yaml").write_text(text)
    shutil.copy(SHOP / "netpol.yaml", tmp_path / "netpol.yaml")
    for command in ("scan", "fix", "connectivity"):
        start = time.monotonic()
        result = invoke(command, *(["--dry-run"] if command == "fix" else []), str(tmp_path))
        assert time.monotonic() - start < 5
        assert result.exit_code == 2
        line = next(x for x in result.stderr.splitlines() if "excessive aliasing" in x)
        assert line.startswith(f"{tmp_path / 'bomb.yaml'}:")
        assert "at most 99%" in line
        assert "netpol.yaml" not in result.stderr  # the other file is read as usual


def test_moderate_aliasing_is_read(tmp_path: Path) -> None:
    """Anchors and aliases used as people use them (a shared selector) stay readable."""
    text = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: p, namespace: shop}\nspec:\n"
            "  podSelector: &web {matchLabels: {app: web}}\n  policyTypes: [Ingress]\n"
            "  ingress:\n  - from: [{podSelector: *web}]\n")
    (tmp_path / "p.yaml").write_text(text)
    assert invoke("scan", str(tmp_path)).exit_code in (0, 1)
    # a 3-level, 10-wide laugh (1,111 nodes) is accepted, as go-yaml accepts it
    (tmp_path / "l.yaml").write_text(laughs(3, 10))
    result = invoke("scan", str(tmp_path))
    assert "aliasing" not in result.stderr


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n"
                                     "metadata: {name: r, namespace: a}\ndata: &d {x: *d}\n")
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "r.yaml:4 (document 0): error: an anchored value contains itself" in result.stderr


def deep_policy(depth: int) -> dict:
    nested: list = []
    for _ in range(depth - 3):  # the object, spec and x are levels too
        nested = [nested]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deep", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "x": nested}}


@pytest.mark.parametrize("depth", [500, 1000])
def test_deep_list_in_an_unrelated_field_is_analysed_and_fixed(tmp_path: Path,
                                                                depth: int) -> None:
    """A deep list where nothing reads it must not crash scan, SARIF or fix (copy.deepcopy
    and jsonpatch walk the whole object)."""
    tree = tmp_path / "tree"
    shutil.copytree(SHOP, tree)
    (tree / "deep.json").write_text(json.dumps(deep_policy(depth)))
    flow = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\ndata:\n  x: " \
        + "[" * (depth - 2) + "]" * (depth - 2) + "\n"
    (tree / "deep-flow.yaml").write_text(flow)
    for args in (["scan"], ["scan", "--format", "sarif"], ["fix", "--dry-run"],
                 ["fix", "--dry-run", "--format", "json-patch"], ["connectivity"]):
        result = invoke(*args, str(tree))
        assert result.exit_code in (0, 1), (args, result.stderr[-2000:])
        assert "error" not in result.stderr.replace("error[", "")
    result = invoke("fix", str(tree))
    assert result.exit_code in (0, 1), result.stderr


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_nesting_deeper_than_the_bound_is_refused(tmp_path: Path, suffix: str) -> None:
    if suffix == "json":
        text = json.dumps(deep_policy(500))[:-1].replace('"x": ', '"x": ' + "[" * 600, 1) \
            + "]" * 600 + "}"
        text = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, ' \
            '"data": ' + "[" * 1200 + "]" * 1200 + "}"
    else:
        text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: " + \
            "[" * 1200 + "]" * 1200 + "\n"
    (tmp_path / f"deep.{suffix}").write_text(text)
    start = time.monotonic()
    result = invoke("scan", str(tmp_path))
    assert time.monotonic() - start < 5
    assert result.exit_code == 2
    assert "1000" in result.stderr and "deep." in result.stderr


def test_deep_nesting_through_aliases_is_refused(tmp_path: Path) -> None:
    """libyaml bounds what it parses to 1000 levels; aliases could stack deeper."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: c}", "data:",
             "  l0: &l0 " + "[" * 900 + "]" * 900]
    lines += ["  l1: &l1 " + "[" * 200 + "*l0" + "]" * 200]
    (tmp_path / "a.yaml").write_text("\n".join(lines) + "\n")
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "nested deeper than 1000 levels" in result.stderr


def test_file_and_document_size_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SHOP / "netpol.yaml", tmp_path / "netpol.yaml")
    monkeypatch.setattr(inventory_files, "MAX_FILE_BYTES", 1000)
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "netpol.yaml: error: " in result.stderr
    assert "files of at most 1,000 bytes are read" in result.stderr
    clear_text_cache()
    stdin = CliRunner().invoke(main, ["scan", "-"], input=(SHOP / "netpol.yaml").read_text())
    assert stdin.exit_code == 2
    assert "<stdin>: error: more than 1,000 bytes" in stdin.stderr
    monkeypatch.setattr(inventory_files, "MAX_FILE_BYTES", 10**9)
    monkeypatch.setattr(texts, "MAX_DOCUMENT_CHARS", 300)
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "at most 300 are read" in result.stderr


# -- invalid objects ---------------------------------------------------------------------

POLICY = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"


@pytest.mark.parametrize("spec", ["", "spec: null\n", "spec: ~\n"])
def test_policy_without_spec_is_an_empty_spec_and_its_fix_writes_one(tmp_path: Path,
                                                                     spec: str) -> None:
    """The API accepts a NetworkPolicy without spec; its podSelector is then empty (all
    pods of the namespace) and policyTypes defaults to [Ingress]."""
    tree = tmp_path / "tree"
    shutil.copytree(SHOP, tree)
    (tree / "nospec.yaml").write_text(POLICY + "metadata: {name: nospec, namespace: shop}\n"
                                      + spec)
    result = invoke("scan", str(tree))
    assert result.exit_code == 1
    assert "NetworkPolicy shop/nospec omits policyTypes" in result.stdout
    result = invoke("fix", str(tree))
    assert "error" not in result.stderr, result.stderr
    text = (tree / "nospec.yaml").read_text()
    assert "spec:\n  policyTypes:\n    - Ingress\n" in text
    assert invoke("fix", "--dry-run", str(tree)).stdout.count("nospec") == 0


@pytest.mark.parametrize("namespace", ["yes", "5", "on", "[a]", "{a: b}", "'Shop'",
                                       "'sh op'", "'a.b'"])
def test_namespace_that_is_no_dns_label(tmp_path: Path, namespace: str) -> None:
    (tmp_path / "p.yaml").write_text(POLICY + f"metadata: {{name: p, namespace: {namespace}}}\n"
                                     "spec: {podSelector: {}}\n")
    result = invoke("scan", str(tmp_path))
    assert "metadata.namespace" in result.stderr
    assert "p.yaml:3 (document 0): " in result.stderr
    if namespace in ("'Shop'", "'a.b'"):
        assert "warning" in result.stderr  # printable: analysed anyway, like netpol-analyzer
    else:
        assert result.exit_code == 2


@pytest.mark.parametrize("value", ["on", "0755", "[a]", "1.5", "yes", "{a: b}", "12"])
def test_non_string_label_values_in_a_namespace_are_refused(tmp_path: Path, value: str) -> None:
    """ObjectMeta.labels is map[string]string: `on` (YAML 1.1 true) does not decode."""
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n"
                                      f"  name: n\n  labels:\n    team: {value}\n")
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "ns.yaml:6 (document 0): error: Namespace is invalid: metadata.labels: label " \
           "value" in result.stderr


def test_name_with_a_newline_and_a_workflow_command_is_refused_and_escaped(tmp_path: Path
                                                                          ) -> None:
    """No output line may start with `::` (a GitHub Actions workflow command) or carry an
    escape sequence to the terminal."""
    name = "x\\n::error file=a.yaml,line=1::pwned\\e[31m\\r"
    (tmp_path / "p.yaml").write_text(POLICY + f'metadata: {{name: "{name}", namespace: a}}\n'
                                     "spec: {podSelector: {}}\n")
    for fmt in ("text", "json", "sarif"):
        result = invoke("scan", str(tmp_path), "--format", fmt)
        assert result.exit_code == 2
        for line in (result.stdout + result.stderr).splitlines():
            assert not line.lstrip().startswith("::")
        assert "\x1b" not in result.output and "\r" not in result.output
    assert "p.yaml:3 (document 0): error: NetworkPolicy is invalid: metadata.name" in \
        result.stderr


def test_control_characters_in_a_file_name_are_escaped() -> None:
    line = str(InputError("a\n::error::x\x1b[2J.yaml", 0, 1, "bad\nvalue"))
    assert "\n" not in line and "\x1b" not in line
    assert line == "a\\n::error::x\\x1b[2J.yaml:1 (document 0): error: bad\\nvalue"
    assert inert("tab\tstays") == "tab\tstays"


@pytest.mark.parametrize("cidr", ["fe80::1%eth0/64", " 10.0.0.0/8", "10.0.0.0/8\n",
                                  "10.0.0.0 /8"])
def test_cidrs_the_api_server_rejects(tmp_path: Path, cidr: str) -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "p", "namespace": "a"},
              "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": cidr}}]}]}}
    (tmp_path / "p.json").write_text(json.dumps(policy))
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "invalid CIDR" in result.stderr


@pytest.mark.parametrize("ports, words", [
    ("[{port: 0}]", "port 0 must be between 1 and 65535"),
    ("[{port: 70000}]", "must be between 1 and 65535"),
    ("[{port: 80, endPort: 79}]", "port range 80-79 is invalid"),
    ("[{port: http--x}]", "not a valid IANA service name"),
    ("[{protocol: ICMP, port: 1}]", "protocol 'ICMP' is not supported"),
    ("[{protocol: tcp, port: 1}]", "protocol 'tcp' is not supported"),
    ("[{protocol: [TCP]}]", "is not supported"),
])
def test_ports_and_protocols_the_api_server_rejects(tmp_path: Path, ports: str,
                                                    words: str) -> None:
    (tmp_path / "p.yaml").write_text(POLICY + "metadata: {name: p, namespace: a}\n"
                                     f"spec: {{podSelector: {{}}, ingress: [{{ports: {ports}}}]}}\n")
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert words in result.stderr


def test_non_string_pod_template_labels_are_refused(tmp_path: Path) -> None:
    """A Deployment whose template says `app: on` is refused by the API server (the label
    would be the boolean true); netpol-fix must not match selectors against "True"."""
    (tmp_path / "d.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n"
        "      labels:\n        app: web\n        enabled: on\n"
        "    spec: {containers: [{name: c, image: i}]}\n")
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "d.yaml:10 (document 0): error: Deployment shop/web is invalid: pod template " \
           "metadata.labels: label value True must be a string" in result.stderr


def test_git_blobs_are_bounded_like_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from netpol_fix.inventory import sources
    from netpol_fix.inventory.kinds import LoadResult

    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 100)
    result = LoadResult()
    sources.load_bytes("git:HEAD:big.yaml", b"a: 1\n" * 100, result)
    assert [str(e) for e in result.errors] == [
        "git:HEAD:big.yaml: error: 500 bytes; files of at most 100 bytes are read"]
