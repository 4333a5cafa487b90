"""The forge token never reaches output, error messages, exceptions or the pull request."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from netpol_fix.cli import main
from netpol_fix.pr.errors import PrError, scrub
from tests.pr.conftest import TOKEN, Checkout, git
from tests.pr.fakes import FakeGitHub


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_clean(result: Result) -> None:
    assert TOKEN not in result.stdout + result.stderr
    exc = result.exception
    while exc is not None:
        assert isinstance(exc, SystemExit) or TOKEN not in repr(exc)
        exc = exc.__cause__ or exc.__context__


def test_server_echoing_the_token(checkout: Checkout, github: FakeGitHub) -> None:
    github.fail_with = (500, f"internal error for header Authorization: Bearer {TOKEN}")
    result = invoke("pr", "examples", "--api-url", github.base_url + "/api/v3",
                    "--repository", "acme/infra")
    assert result.exit_code == 2
    assert "HTTP 500: internal error for header Authorization: Bearer ***" in result.stderr
    assert_clean(result)


def test_token_in_the_remote_url(checkout: Checkout, github: FakeGitHub) -> None:
    git(checkout.repo, "remote", "set-url", "origin",
        f"https://x-access-token:{TOKEN}@127.0.0.1:9/acme/infra.git")
    result = invoke("pr", "examples", "--api-url", github.base_url + "/api/v3")
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert_clean(result)


def test_unreachable_api(checkout: Checkout, github: FakeGitHub) -> None:
    result = invoke("pr", "examples", "--api-url", f"http://user:{TOKEN}@127.0.0.1:9",
                    "--repository", "acme/infra")
    assert result.exit_code == 2 and "cannot reach" in result.stderr
    assert_clean(result)


def test_success_output_and_pull_request_carry_no_token(checkout: Checkout,
                                                        github: FakeGitHub) -> None:
    result = invoke("pr", "examples", "--api-url", github.base_url + "/api/v3",
                    "--repository", "acme/infra")
    assert result.exit_code == 0, result.stderr
    assert_clean(result)
    for rec in github.requests:
        assert TOKEN not in json.dumps(rec.body) + rec.path + json.dumps(rec.query)
        assert rec.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in git(checkout.remote, "log", "--all", "--format=%B")


def test_scrub() -> None:
    assert scrub(f"push to https://bot:{TOKEN}@github.com/a/b failed") == (
        "push to https://***@github.com/a/b failed")
    assert scrub(f"token {TOKEN}!", [TOKEN]) == "token ***!"
    assert TOKEN not in str(PrError(f"bad {TOKEN}", [TOKEN]))
