"""`fix`: one canonical JSON patch per fix, and every other form derived from it.

- the edited file reads back as exactly `jsonpatch.apply_patch(object, operations)`;
- only the lines a fix means to change change (comments, quoting, order all stay);
- running fix twice changes nothing the second time; --dry-run writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.config import Settings
from netpol_fix.fixes.files import apply_plan
from netpol_fix.fixes.plan import build_plan
from netpol_fix.inventory.load import load_inventory
from netpol_fix.rules.context import Context
from netpol_fix.rules.registry import RULES, run_rules
from tests.corpus_path import corpus_path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(REPO / "examples", target)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dry_run_prints_a_diff_and_writes_nothing(shop: Path) -> None:
    before = snapshot(shop)
    code, out, _ = run("fix", "--dry-run", str(shop))
    assert code == 1
    assert out.startswith("# fix 1/4 [missing-dns-egress] safe: NetworkPolicy shop/default-deny")
    assert "\ndiff --git a/" in out
    assert f"--- a/{str(shop).lstrip('/')}/shop/netpol.yaml" in out
    assert "+          k8s-app: kube-dns" in out
    assert "\x1b[" not in out  # no colours when not on a terminal
    assert snapshot(shop) == before


def test_dry_run_headers_say_what_each_fix_opens(shop: Path) -> None:
    _, out, _ = run("fix", "--dry-run", str(shop))
    headers = out[:out.index("diff --git")].splitlines()
    assert all(line.startswith("#") for line in headers)
    assert [line.split("]")[0] for line in headers if line.startswith("# fix ")] == [
        "# fix 1/4 [missing-dns-egress", "# fix 2/4 [namespace-selector-unmatched",
        "# fix 3/4 [policy-types-missing", "# fix 4/4 [missing-dns-egress"]
    # the egress-only policy's fix ([Egress], re-opening ingress) is unsafe: not shown
    assert "#     shop/Deployment/api -> payments/Deployment/gateway TCP 8443" in headers
    assert headers.count("#   opens no new flow") == 1


def test_dry_run_output_applies_with_git_apply(shop: Path, tmp_path: Path) -> None:
    """The headers sit where git apply skips text: the printed patch, applied, gives
    exactly the files `fix` writes."""
    import subprocess
    _, out, _ = run("fix", "--dry-run", str(shop))
    fixed = tmp_path / "fixed"
    shutil.copytree(shop, fixed)
    run("fix", str(fixed))
    (tmp_path / "fix.patch").write_text(out)
    subprocess.run(["git", "apply", "-p1", str(tmp_path / "fix.patch")], cwd="/", check=True)
    assert {p.removeprefix(str(shop)): b for p, b in snapshot(shop).items()} == {
        p.removeprefix(str(fixed)): b for p, b in snapshot(fixed).items()}


def test_dry_run_is_coloured_on_a_terminal_unless_no_color(
        shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    coloured = CliRunner().invoke(main, ["fix", "--dry-run", str(shop)], color=True).stdout
    assert "\x1b[32m+          k8s-app: kube-dns\x1b[0m" in coloured
    assert "\x1b[2m# fix 1/4" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(main, ["fix", "--dry-run", str(shop)], color=True).stdout
    assert "\x1b[" not in plain
    assert plain == run("fix", "--dry-run", str(shop))[1]


def test_fix_in_place_then_second_run_changes_nothing(shop: Path) -> None:
    mode = (shop / "shop" / "netpol.yaml").stat().st_mode
    os.chmod(shop / "shop" / "netpol.yaml", 0o640)
    code, _, err = run("fix", str(shop), "--select", "missing-dns-egress")
    assert code == 0, err
    assert "Applied 2 fix(es) to 2 file(s)" in err
    assert stat.S_IMODE((shop / "shop" / "netpol.yaml").stat().st_mode) == 0o640
    del mode
    after = snapshot(shop)
    assert run("scan", str(shop), "--select", "missing-dns-egress")[0] == 0
    code, _, _ = run("fix", str(shop), "--select", "missing-dns-egress")
    assert code == 0
    assert snapshot(shop) == after
    assert run("fix", "--dry-run", str(shop), "--select", "missing-dns-egress")[1] == ""


def test_edit_changes_only_added_lines_and_keeps_comments(shop: Path) -> None:
    _, out, _ = run("fix", "--dry-run", str(shop), "--select", "missing-dns-egress")
    body = [line for line in out.splitlines()
            if not line.startswith(("diff --git", "---", "+++", "@@"))]
    assert not [line for line in body if line.startswith("-")]
    run("fix", str(shop), "--select", "missing-dns-egress")
    text = (shop / "shop" / "netpol.yaml").read_text()
    assert "# Lock the shop namespace down" in text
    assert "    - podSelector:          # Prometheus runs in the monitoring namespace" in text


def test_json_patch_output_is_the_canonical_form(shop: Path) -> None:
    code, out, _ = run("fix", "--dry-run", "--format", "json-patch", str(shop))
    assert code == 1
    entries = json.loads(out)
    assert entries and all({"rule", "object", "operations", "creates", "opens"} <= set(e)
                           for e in entries)
    for entry in entries:
        ops = entry["operations"]
        first_change = next(i for i, op in enumerate(ops) if op["op"] != "test")
        assert all(op["op"] == "test" for op in ops[:first_change])
        assert all(op["op"] != "test" for op in ops[first_change:])


def test_stdin_fix_prints_the_fixed_text() -> None:
    text = (REPO / "examples" / "shop" / "netpol.yaml").read_text()
    code, out, _ = run("fix", "-", "--select", "missing-dns-egress", input=text)
    assert code == 0
    assert out.startswith("# Lock the shop namespace down")
    assert "k8s-app: kube-dns" in out


def test_stdin_fix_keeps_bom_and_crlf_like_a_file(tmp_path: Path) -> None:
    """`fix -` prints exactly what `fix FILE` writes: the BOM and CRLF line endings of the
    input stay (they were normalised away with the text read for the analysis)."""
    text = (REPO / "examples" / "shop" / "netpol.yaml").read_text()
    raw = ("\ufeff" + text).replace("\n", "\r\n").encode()
    result = CliRunner().invoke(main, ["fix", "-", "--select", "missing-dns-egress"],
                                input=raw)
    assert result.exit_code == 0, result.stderr
    path = tmp_path / "netpol.yaml"
    path.write_bytes(raw)
    assert run("fix", str(path), "--select", "missing-dns-egress")[0] == 0
    assert path.read_bytes() != raw
    assert result.stdout_bytes == path.read_bytes()


def edited_objects_match_patches(sources: list[str], unsafe: bool) -> int:
    """For every applicable fix: the edited file's document equals the JSON-patched object."""
    inventory = load_inventory(sources)
    ctx = Context(inventory, Settings())
    findings = run_rules(ctx, RULES.values())
    checked = 0
    for finding in findings:
        plan = build_plan([finding], unsafe)
        if not plan.applied:
            continue
        for result in apply_plan(plan):
            assert result.error is None, result.error
            assert result.new is not None
            docs = list(yaml.safe_load_all(result.new))
            old_docs = list(yaml.safe_load_all(result.old))
            for patch in finding.fix.patches if finding.fix else []:
                assert patch.source is not None and patch.source.location is not None
                if patch.source.location.file != result.file:
                    continue
                doc = patch.source.location.document
                item = patch.source.item_index
                expected = jsonpatch.apply_patch(patch.source.obj, patch.operations)
                got = docs[doc] if item is None else docs[doc]["items"][item]
                assert got == expected
                checked += 1
            # every other document is untouched
            for i, (old, new) in enumerate(zip(old_docs, docs)):
                touched = {p.source.location.document for p in finding.fix.patches
                           if p.source and p.source.location}
                if i not in touched:
                    assert old == new
    return checked


def test_edits_equal_json_patches_on_the_examples() -> None:
    assert edited_objects_match_patches([str(REPO / "examples")], unsafe=True) >= 2


@pytest.mark.parametrize("folder", [
    "openshift-cluster-storage-operator", "kube-prometheus", "argo-cd/manifests/base",
    "kubeflow-manifests", "flux2", "xunholy-k8s-gitops/.archive", "online-boutique",
    "calico-docs", "k8s-website", "k8s-netpol-recipes/extracted",
])
def test_edits_equal_json_patches_on_corpus(folder: str) -> None:
    path = corpus_path(folder)
    edited_objects_match_patches([str(path)], unsafe=True)


def test_interacting_fixes_neither_duplicate_nor_need_a_second_run(tmp_path: Path) -> None:
    """One denied flow, one fix: the prometheus peer that looks only in shop is told by
    pod-selector-own-namespace alone (one-sided-allow leaves the flow to that specific
    cause, issue 13), so its fix corrects the dead peer rather than adding a second rule
    beside it; a fix that uncovers a new finding is followed by its fix in the same run; a
    second `fix --unsafe-fixes` changes nothing and exits 0; the dry run shows exactly
    what the run writes."""
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(REPO / "tests/data/interacting-fixes.yaml", folder / "all.yaml")
    code, out, err = run("fix", "--dry-run", "--unsafe-fixes", str(folder))
    assert code == 1
    assert "skipped fix" not in err
    headers = [line for line in out.splitlines() if line.startswith("# fix ")]
    assert any("[egress-rules-ignored]" in h for h in headers)
    assert any("[pod-selector-own-namespace]" in h for h in headers)
    # the one one-sided allow left is the one uncovered by a fix (db -> web, round two)
    assert sum("[one-sided-allow]" in h for h in headers) == 1
    preview = tmp_path / "preview.patch"
    preview.write_text(out)
    original = (folder / "all.yaml").read_text()
    code, _, _ = run("fix", "--unsafe-fixes", str(folder))
    assert code == 0
    once = snapshot(folder)
    code, _, _ = run("fix", "--unsafe-fixes", str(folder))
    assert code == 0 and snapshot(folder) == once
    # the dry run's patch, applied to the original, gives what the run wrote
    import subprocess
    fixed = (folder / "all.yaml").read_text()
    (folder / "all.yaml").write_text(original)
    subprocess.run(["git", "apply", "-p1", str(preview)], cwd="/", check=True)
    assert (folder / "all.yaml").read_text() == fixed


def _objects(folder: Path) -> dict[tuple[str, str | None, str], Any]:
    found = {}
    for path in sorted(folder.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else [doc]
            for obj in items or []:
                meta = obj.get("metadata") or {}
                found[(obj["kind"], meta.get("namespace"), meta["name"])] = obj
    return found


@pytest.mark.parametrize("source,unsafe", [
    ("examples", False), ("examples", True), ("tests/data/interacting-fixes.yaml", True)])
def test_printed_json_patches_applied_in_order_give_the_edited_files(
        tmp_path: Path, source: str, unsafe: bool) -> None:
    """`fix --dry-run --format json-patch`, applied entry by entry to the objects as read
    (RFC 6902, tests included), gives exactly the objects `fix` writes, even where several
    fixes of the run edit one object."""
    folder = tmp_path / "in"
    if (REPO / source).is_dir():
        shutil.copytree(REPO / source, folder)
    else:
        folder.mkdir()
        shutil.copy(REPO / source, folder / "all.yaml")
    flags = ["--unsafe-fixes"] if unsafe else []
    code, out, _ = run("fix", "--dry-run", "--format", "json-patch", *flags, str(folder))
    assert code == 1
    entries = json.loads(out)
    objects = _objects(folder)
    shared = 0
    touched: dict[tuple[str, str | None, str], int] = {}
    for entry in entries:
        ref = entry["object"]
        key = (ref["kind"], ref["namespace"], ref["name"])
        if entry["operations"]:
            objects[key] = jsonpatch.apply_patch(objects[key], entry["operations"])
            touched[key] = touched.get(key, 0) + 1
        for new in entry["creates"]:
            meta = new["metadata"]
            objects[(new["kind"], meta.get("namespace"), meta["name"])] = new
    shared = sum(1 for n in touched.values() if n > 1)
    # several fixes on one object: the case that needs the sequence (the safe fixes of the
    # examples edit one object each since policy-types-missing's [Egress] became unsafe)
    assert shared or not unsafe
    run("fix", *flags, str(folder))
    assert objects == _objects(folder)


def test_dry_run_paths_drop_a_leading_dot_slash(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`fix --dry-run ./dir` names files `a/dir/...` (git apply rejects `a/./dir`)."""
    import subprocess
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("fix", "--dry-run", "./examples")
    assert code == 1
    assert "diff --git a/examples/shop/netpol.yaml b/examples/shop/netpol.yaml" in out
    assert "a/./" not in out
    (tmp_path / "fix.patch").write_text(out)
    subprocess.run(["git", "apply", "--check", "fix.patch"], cwd=tmp_path, check=True)


def test_new_policy_for_an_item_of_a_json_list_becomes_the_next_item(tmp_path: Path) -> None:
    """A JSON `kind: List` holds one document, so a fix that creates a policy (one-sided-allow
    under a default-deny: one new policy per workload) inserts it into `items` right after
    the item it belongs to instead of refusing the file; the BOM, CRLF and 4-space layout
    stay, the printed JSON patches give the written objects, and a second run changes
    nothing."""
    text = (REPO / "tests/data/json-list-one-sided.json").read_text()
    path = tmp_path / "store.json"
    path.write_bytes(("\ufeff" + text).replace("\n", "\r\n").encode())
    before = path.read_bytes()
    code, out, err = run("fix", "--dry-run", "--format", "json-patch", "--unsafe-fixes",
                         str(path))
    assert code == 1, err
    entries = json.loads(out)
    assert [new["metadata"]["name"] for e in entries for new in e["creates"]] == [
        "api-allow-egress", "worker-allow-egress"]
    code, _, err = run("fix", "--unsafe-fixes", str(path))
    assert code == 0, err
    after = path.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf") and b"\n" not in after.replace(b"\r\n", b"")
    # only lines were added: every original line is still there, in order
    old_lines, new_lines = before.splitlines(), after.splitlines()
    it = iter(new_lines)
    assert all(line in it for line in old_lines)
    data = json.loads(after.decode("utf-8-sig"))
    assert [i["metadata"]["name"] for i in data["items"]] == [
        "default-deny", "api-allow-egress", "worker-allow-egress", "db-ingress",
        "api", "db", "cache", "worker"]
    assert '\r\n            "metadata": {\r\n                "name": "api-allow-egress"' in \
        after.decode("utf-8-sig")
    expected = {(o["kind"], o["metadata"]["name"]): o
                for o in json.loads(text)["items"]}
    for entry in entries:
        for new in entry["creates"]:
            expected[(new["kind"], new["metadata"]["name"])] = new
    assert expected == {(o["kind"], o["metadata"]["name"]): o for o in data["items"]}
    assert run("fix", "--unsafe-fixes", str(path))[0] == 0
    assert path.read_bytes() == after
    assert run("fix", "--dry-run", "--unsafe-fixes", str(path))[:2] == (0, "")


def test_a_file_the_editor_refuses_holds_back_only_its_own_fixes(tmp_path: Path) -> None:
    """One refused file (it does not parse; a lone JSON object cannot take the new Cilium
    policy) loses the fixes that touch it, said on stderr; the other files are fixed, and
    the exit code is 2 (it wins over 1), for the dry run and in place."""
    (tmp_path / "broken.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: ok, namespace: q}\nspec: {podSelector: {}, policyTypes: [Egress]}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: broken, namespace: q}\nspec:\n  podSelector: {matchLabels: {a: b}\n"
        "  policyTypes: [Ingress]\n")
    (tmp_path / "ping.json").write_text(json.dumps({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "ping", "namespace": "net"},
        "spec": {"podSelector": {"matchLabels": {"app": "t"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 80}]}]}},
        indent=2))
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                    "metadata:\n  name: other\n  namespace: r\n"
                    "spec:\n  podSelector: {}\n  policyTypes:\n  - Egress\n")
    before = snapshot(tmp_path)
    args = ("--unsafe-fixes", "--cni", "cilium", str(tmp_path))
    code, out, err = run("fix", "--dry-run", *args)
    assert code == 2
    assert "+++ b/" + str(good).lstrip("/") in out
    assert "broken.yaml" not in out.split("\ndiff --git", 1)[1]
    assert "skipped fix for [missing-dns-egress] NetworkPolicy q/ok: cannot edit " in err
    assert "skipped fix for [cilium-icmp-denied] NetworkPolicy net/ping: cannot edit " in err
    assert snapshot(tmp_path) == before
    code, _, err = run("fix", *args)
    assert code == 2
    assert "k8s-app: kube-dns" in good.read_text()
    after = snapshot(tmp_path)
    assert {k for k in after if after[k] != before[k]} == {str(good)}
