"""Secrets never reach output (issue 15, defect 6): credential-echoing fake servers on
127.0.0.1, redirects to another origin, exec plugins that hang."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from netpol_fix.cli import main
from netpol_fix.model.secrets import forget_secrets, scrub
from netpol_fix.pr.errors import PrError
from netpol_fix.pr.http import JsonApi
from tests.cluster_apply.test_namespace_fake import LABEL_OPS, entry

TOKEN = "kube-t0ken-aVeryLongSecretValue-1234567890"
PASSWORD = "hunter2-but-longer-Pa55"
FORGE_TOKEN = "glpat-F0rgeT0kenValue-abcdef123456"


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def kubeconfig(tmp_path: Path, server: str, user: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n"
                    f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
                    f"users: [{{name: u, user: {user}}}]\n"
                    "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
                    "current-context: c\n")
    return path


def apply(tmp_path: Path, config: Path, *args: str) -> Result:
    patches = tmp_path / "patches.json"
    patches.write_text(json.dumps([entry(LABEL_OPS)]))
    return CliRunner().invoke(main, ["apply", "--patches", str(patches), "--kubeconfig",
                                     str(config), "--yes", *args])


def all_forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode(),
            urllib.parse.quote(secret, safe="")]


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in all_forms(secret):
            assert form not in text, (form, text)


def echoing(status: int) -> object:
    """A server that answers every request with `status` and echoes the request's
    Authorization header in its Status message, as a misconfigured proxy does."""
    def handler(request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        decoded = ""
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
                "reason": "Unauthorized" if status == 401 else "Forbidden",
                "message": f"Unauthorized: {header} ({decoded}) "
                           f"{urllib.parse.quote(header, safe='')}"}
        return Response(json.dumps(body), status=status, content_type="application/json")
    return handler


@pytest.mark.parametrize("user, secret", [
    (f"{{token: {TOKEN}}}", TOKEN),
    (f"{{username: admin, password: {PASSWORD}}}", PASSWORD),
])
def test_apply_401_is_exit_2_and_never_prints_the_credential(
        httpserver: HTTPServer, tmp_path: Path, user: str, secret: str) -> None:
    httpserver.expect_request("/api/v1/namespaces/payments").respond_with_handler(
        echoing(401))
    result = apply(tmp_path, kubeconfig(tmp_path, httpserver.url_for("")[:-1], user))
    assert result.exit_code == 2, result.output
    assert "rejected the credentials (401" in result.stderr
    assert "Traceback" not in result.output
    assert_no_secret(result.output, secret)
    assert f"{PASSWORD}" not in result.output and TOKEN not in result.output


def test_apply_403_refuses_with_the_scrubbed_message_and_exits_2(
        httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/api/v1/namespaces/payments").respond_with_handler(
        echoing(403))
    result = apply(tmp_path, kubeconfig(tmp_path, httpserver.url_for("")[:-1],
                                        f"{{token: {TOKEN}}}"))
    assert result.exit_code == 2, result.output
    assert "refused: Namespace payments" in result.stdout
    assert "403: Unauthorized: ***" in result.stdout
    assert_no_secret(result.output, TOKEN)


def test_scan_cluster_401_never_prints_the_token(httpserver: HTTPServer,
                                                 tmp_path: Path) -> None:
    httpserver.expect_request("/apis/networking.k8s.io/v1/networkpolicies").\
        respond_with_handler(echoing(401))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(echoing(401))
    config = kubeconfig(tmp_path, httpserver.url_for("")[:-1], f"{{token: {TOKEN}}}")
    result = CliRunner().invoke(main, ["scan", "--cluster", "-A", "--kubeconfig", str(config)])
    assert result.exit_code == 2, result.output
    assert_no_secret(result.output, TOKEN)


@pytest.fixture
def other_origin() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def test_forge_redirect_to_another_origin_drops_the_token(
        httpserver: HTTPServer, other_origin: HTTPServer) -> None:
    """urllib copies Authorization to wherever a 307 points; our opener must not."""
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response("{}", content_type="application/json")

    other_origin.expect_request("/elsewhere").respond_with_handler(record)
    httpserver.expect_request("/api/v4/x").respond_with_response(
        Response("", status=307, headers={"Location": other_origin.url_for("/elsewhere")}))
    httpserver.expect_request("/api/v4/same").respond_with_response(
        Response("", status=307, headers={"Location": httpserver.url_for("/api/v4/here")}))
    httpserver.expect_request("/api/v4/here").respond_with_handler(record)
    api = JsonApi(httpserver.url_for("/api/v4"), {"Authorization": f"Bearer {FORGE_TOKEN}",
                                                  "PRIVATE-TOKEN": FORGE_TOKEN}, FORGE_TOKEN)
    api.request("GET", "/x")
    assert seen and all(FORGE_TOKEN not in json.dumps(h) for h in seen)
    api.request("GET", "/same")  # the same origin keeps its credentials
    assert seen[-1].get("Authorization") == f"Bearer {FORGE_TOKEN}"


def test_kube_client_redirect_to_another_origin_drops_the_token(
        httpserver: HTTPServer, other_origin: HTTPServer, tmp_path: Path) -> None:
    """The kubernetes client (urllib3) strips Authorization on a cross-origin redirect."""
    seen: list[dict[str, str]] = []

    def record(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(json.dumps({"kind": "Status", "code": 404, "message": "gone"}),
                        status=404, content_type="application/json")

    other_origin.expect_request(re.compile(".*")).respond_with_handler(record)
    httpserver.expect_request("/api/v1/namespaces/payments").respond_with_response(
        Response("", status=307, headers={
            "Location": other_origin.url_for("/api/v1/namespaces/payments")}))
    result = apply(tmp_path, kubeconfig(tmp_path, httpserver.url_for("")[:-1],
                                        f"{{token: {TOKEN}}}"))
    assert "Traceback" not in result.output
    assert seen, result.output
    assert all(TOKEN not in json.dumps(h) for h in seen)
    assert_no_secret(result.output, TOKEN)


def test_hanging_exec_plugin_is_killed_after_the_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETPOL_FIX_EXEC_TIMEOUT", "1")
    user = ("{exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
            f"command: {sys.executable}, args: ['-c', 'import time; time.sleep(60)'], "
            "interactiveMode: Never}}")
    config = kubeconfig(tmp_path, "http://127.0.0.1:9", user)
    for args in (["scan", "--cluster", "--kubeconfig", str(config)], None):
        start = time.monotonic()
        result = (CliRunner().invoke(main, args) if args else apply(tmp_path, config))
        assert time.monotonic() - start < 10
        assert result.exit_code == 2, result.output
        assert "did not answer within 1 s" in result.output
        assert "Traceback" not in result.output


def test_scrub_masks_base64_at_any_alignment_and_url_encoding() -> None:
    """git echoes an http.extraheader credential as `Authorization: Basic
    base64(x-access-token:TOKEN)`: the token sits at an arbitrary offset of the encoded
    bytes."""
    for user in ("", "x", "xa", "x-access-token", "oauth2"):
        encoded = base64.b64encode(f"{user}:{FORGE_TOKEN}".encode()).decode()
        cleaned = scrub(f"fatal: header Authorization: Basic {encoded}", [FORGE_TOKEN])
        assert "***" in cleaned
        # no run of 8 characters of the token's own encodings survives
        for shift in range(3):
            core = base64.b64encode(b"\0" * shift + FORGE_TOKEN.encode()).decode()[4:-4]
            assert core not in cleaned
    assert FORGE_TOKEN not in scrub(urllib.parse.quote(FORGE_TOKEN, safe=""), [FORGE_TOKEN])
    assert scrub(f"?private_token={urllib.parse.quote_plus(FORGE_TOKEN)}", [FORGE_TOKEN]) \
        == "?private_token=***"


def test_pr_error_from_git_echoing_the_extraheader_is_scrubbed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", FORGE_TOKEN)
    header = base64.b64encode(f"x-access-token:{FORGE_TOKEN}".encode()).decode()
    message = str(PrError(f"git push failed: http.extraheader=AUTHORIZATION: basic {header}"))
    assert_no_secret(message, FORGE_TOKEN)
    assert base64.b64encode(FORGE_TOKEN.encode()).decode()[8:20] not in message
