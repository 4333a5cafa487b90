"""Bad option values, settings files and patch files: a message and exit code 2, never a
traceback (issue 15, defect 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from netpol_fix.cli import main
from netpol_fix.model.cidr import CidrError, parse_cidr
from tests.pr.conftest import REPO

SHOP = str(REPO / "examples" / "shop")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_usage_error(result: Result, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)


@pytest.mark.parametrize("value", ["garbage", "10.0.0.0/99", "10.0.0.0", " 10.0.0.0/8",
                                   "fe80::1%eth0/64", "::/129"])
def test_bad_pod_cidr_option(value: str) -> None:
    assert_usage_error(invoke("scan", SHOP, "--pod-cidr", value), "--pod-cidr")


@pytest.mark.parametrize("text, words", [
    ("pod-cidr: 10.0.0.0/99\n", "pod-cidr '10.0.0.0/99': not a CIDR"),
    ("pod-cidr: 5\n", "pod-cidr 5: expected a CIDR"),
    ("cni: [cilium]\n", "cni: expected a CNI name"),
    ("prefer-selector: maybe\n", "prefer-selector: expected true or false"),
    ("dns-namespace: {a: 1}\n", "dns-namespace: expected a namespace name"),
    ("a: &x [1]\nb: *x\n", "aliases (*name) are not allowed"),
])
def test_bad_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                           words: str) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".netpol-fix.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert_usage_error(invoke("scan", SHOP), words)


def test_settings_file_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".netpol-fix.yaml").write_bytes(b"# settings\ncni: cili\xffum\n")
    monkeypatch.chdir(tmp_path)
    assert_usage_error(invoke("scan", SHOP), ".netpol-fix.yaml:2: not UTF-8 text (byte 0xff)")


def test_settings_file_that_is_huge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".netpol-fix.yaml").write_text("# x\n" * 300_000)
    monkeypatch.chdir(tmp_path)
    assert_usage_error(invoke("scan", SHOP), "a settings file is at most 1,000,000 bytes")


@pytest.mark.parametrize("content, words", [
    ("[5]", "element 0: not a fix entry (expected an object"),
    ("[[]]", "element 0: not a fix entry (expected an object"),
    ('[{"operations": "add"}]', "operations: expected a list of objects"),
    ('[{"operations": [{"op": "add", "path": 5}]}]', "bad JSON patch operation"),
    ('[{"object": "Namespace/x", "operations": []}]', "object: expected"),
    ('[{"opens": [5]}]', "opens: expected a list of objects"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ("\"\\ud800\"", "expected a JSON list"),
])
def test_bad_patch_file(tmp_path: Path, content: str, words: str) -> None:
    patches = tmp_path / "p.json"
    patches.write_text(content)
    assert_usage_error(invoke("apply", "--patches", str(patches), "--yes", "--kubeconfig",
                              str(tmp_path / "none")), words)


def test_patch_file_that_is_not_utf8(tmp_path: Path) -> None:
    patches = tmp_path / "p.json"
    patches.write_bytes(b"[\xff]")
    result = invoke("apply", "--patches", str(patches), "--yes")
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize("port", ["-1", "0", "65536", "+80", "http--alt", "-http",
                                  "a-very-long-port-name", "80a-", ""])
def test_explain_bad_port(port: str) -> None:
    result = invoke("explain", SHOP, "--from", "shop/web", "--to", "shop/api", "--port", port)
    assert_usage_error(result, "--port")


def test_explain_port_name_still_works() -> None:
    result = invoke("explain", SHOP, "--from", "shop/web", "--to", "shop/api", "--port", "http")
    assert result.exit_code in (0, 1), result.output


@pytest.mark.parametrize("text, network", [
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("10.1.2.3/8", "10.0.0.0/8"),            # host bits: Go's ParseCIDR masks them
    ("010.000.0.1/8", "10.0.0.0/8"),         # ParseCIDRSloppy: leading zeros allowed
    ("10.0.0.0/08", "10.0.0.0/8"),
    ("2001:db8::/32", "2001:db8::/32"),
    ("::ffff:10.0.0.0/104", "::ffff:a00:0/104"),
    ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_cidrs_the_api_accepts(text: str, network: str) -> None:
    """k8s.io/utils/net: ParseCIDRSloppy "is identical to Go's standard net.ParseCIDR,
    except that it allows leading '0' characters on numbers"."""
    assert str(parse_cidr(text)) == network


@pytest.mark.parametrize("text", ["fe80::1%eth0/64", " 10.0.0.0/8", "10.0.0.0/8 ", "10.0.0.0",
                                  "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "256.0.0.0/8",
                                  "1.2.3/8", "::/129", "2001:db8:::/32", "a/8", "10.0.0.0/8/8",
                                  "10.0.0.0/ 8", 8, None, ["10.0.0.0/8"]])
def test_cidrs_the_api_refuses(text: object) -> None:
    """Go's ParseCIDR takes no zone (ParseIP has none), no whitespace, a decimal length."""
    with pytest.raises(CidrError):
        parse_cidr(text)


def test_policy_with_a_zoned_or_padded_cidr_is_an_input_error(tmp_path: Path) -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "p", "namespace": "a"},
              "spec": {"podSelector": {}, "egress": [{"to": [
                  {"ipBlock": {"cidr": "fe80::1%eth0/64"}},
                  {"ipBlock": {"cidr": " 10.0.0.0/8"}}]}]}}
    (tmp_path / "p.json").write_text(json.dumps(policy))
    result = invoke("scan", str(tmp_path))
    assert result.exit_code == 2
    assert "an IPv6 zone" in result.stderr


def test_explain_address_with_an_ipv6_zone() -> None:
    result = invoke("explain", SHOP, "--from", "shop/web", "--to", "fe80::1%eth0")
    assert_usage_error(result, "an IPv6 zone")
