"""`pr` against stateful fakes of the GitHub and GitLab APIs.

Every request the client sends is checked against what the forge publishes: GitHub's
OpenAPI description (@octokit/openapi), GitLab's documented merge request parameters.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.pr.body import fingerprint_of
from tests.pr.conftest import TOKEN, Checkout, git
from tests.pr.fakes import FakeForge, FakeGitHub, FakeGitLab
from tests.pr.schema import OpenApi, gitlab_request_errors


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def gh_pr(fake: FakeGitHub, *extra: str) -> tuple[int, str, str]:
    return run("pr", "examples", "--forge", "github", "--api-url", fake.base_url + "/api/v3",
               "--repository", "acme/infra", *extra)


def calls(fake: FakeForge) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests]


def assert_github_valid(fake: FakeGitHub, spec: OpenApi) -> None:
    assert fake.requests
    for rec in fake.requests:
        assert spec.request_errors(rec.method, rec.path, rec.query, rec.body) == []
        assert rec.headers["Accept"] == "application/vnd.github+json"


def test_creates_the_pull_request(checkout: Checkout, github: FakeGitHub,
                                  github_openapi: OpenApi) -> None:
    code, out, err = gh_pr(github, "--draft")
    assert code == 0, err
    assert out.strip() == f"{github.base_url}/acme/infra/pull/1"
    assert "created pull request #1" in err
    branch = next(r for r in checkout.remote_refs() if "netpol-fix/" in r)
    assert calls(github) == [("GET", "/repos/acme/infra/pulls"),
                             ("POST", "/repos/acme/infra/pulls"),
                             ("POST", "/repos/acme/infra/issues/1/labels")]
    find = github.requests[0]
    assert find.query == {"head": f"acme:{branch.removeprefix('refs/heads/')}",
                          "state": "open"}
    pull = github.pulls[0]
    assert pull["head_ref"] == branch.removeprefix("refs/heads/")
    assert pull["base_ref"] == "main" and pull["draft"] is True
    assert re.fullmatch(r"netpol-fix: \d+ fixes in payments, shop", pull["title"])
    assert [label["name"] for label in pull["labels"]] == ["netpol-fix", "network-policy"]
    body = pull["body"]
    assert "| `missing-dns-egress` | error | NetworkPolicy shop/default-deny | " \
           "`examples/shop/netpol.yaml:2` |" in body
    assert "`shop/Deployment/api -> kube-system/k8s-app=kube-dns UDP 53`" in body
    assert re.search(r"<details><summary>\d+ file\(s\) changed</summary>", body)
    assert "+          k8s-app: kube-dns" in body
    assert "netpol-fix scan examples --select missing-dns-egress" in body
    assert fingerprint_of(body)
    assert_github_valid(github, github_openapi)


def test_rerun_changes_nothing(checkout: Checkout, github: FakeGitHub,
                               github_openapi: OpenApi) -> None:
    gh_pr(github)
    refs, sent = checkout.remote_refs(), len(github.requests)
    code, out, err = gh_pr(github)
    assert code == 0 and "unchanged pull request #1" in err
    assert out.strip().endswith("/acme/infra/pull/1")
    assert calls(github)[sent:] == [("GET", "/repos/acme/infra/pulls")]
    assert checkout.remote_refs() == refs
    assert len(github.pulls) == 1
    assert_github_valid(github, github_openapi)


def test_updates_the_open_pull_request(checkout: Checkout, github: FakeGitHub,
                                       github_openapi: OpenApi) -> None:
    gh_pr(github, "--select", "missing-dns-egress")
    github.pulls[0]["body"] = "edited by a person"
    sent = len(github.requests)
    code, _, err = gh_pr(github, "--select", "missing-dns-egress")
    assert code == 0 and "updated pull request #1" in err
    assert calls(github)[sent:] == [("GET", "/repos/acme/infra/pulls"),
                                    ("PATCH", "/repos/acme/infra/pulls/1"),
                                    ("POST", "/repos/acme/infra/issues/1/labels")]
    patch = github.requests[sent + 1].body
    assert set(patch) == {"title", "body"}
    assert fingerprint_of(github.pulls[0]["body"])
    assert_github_valid(github, github_openapi)


def test_race_on_create_updates_the_winner(checkout: Checkout, github: FakeGitHub,
                                           github_openapi: OpenApi) -> None:
    gh_pr(github)
    github.pulls[0].update(title="someone else's", body="")
    github.hide_next_find = True  # the other bot created it after our lookup
    sent = len(github.requests)
    code, _out, err = gh_pr(github)
    assert code == 0, err
    assert "updated pull request #1" in err
    assert calls(github)[sent:] == [("GET", "/repos/acme/infra/pulls"),
                                    ("POST", "/repos/acme/infra/pulls"),
                                    ("GET", "/repos/acme/infra/pulls"),
                                    ("PATCH", "/repos/acme/infra/pulls/1"),
                                    ("POST", "/repos/acme/infra/issues/1/labels")]
    assert len(github.pulls) == 1
    assert re.fullmatch(r"netpol-fix: \d+ fixes in payments, shop", github.pulls[0]["title"])
    assert_github_valid(github, github_openapi)


def test_single_fix_title(checkout: Checkout, github: FakeGitHub) -> None:
    run("pr", "examples/shop/netpol.yaml", "--forge", "github", "--api-url",
        github.base_url + "/api/v3", "--repository", "acme/infra", "--select",
        "missing-dns-egress")
    assert github.pulls[0]["title"] == "netpol-fix: add DNS egress to shop/default-deny"


def test_repository_from_the_remote_url(checkout: Checkout, github: FakeGitHub) -> None:
    # git reaches the bare repository; the forge repository is named by the configured URL
    git(checkout.repo, "remote", "add", "gh", "git@github.example.com:shop/manifests.git")
    git(checkout.repo, "config", "url." + checkout.remote.as_uri() + ".insteadOf",
        "git@github.example.com:shop/manifests.git")
    code, _, err = run("pr", "examples", "--remote", "gh", "--api-url",
                       github.base_url + "/api/v3")
    assert code == 0, err
    assert github.requests[0].path == "/repos/shop/manifests/pulls"


def test_forge_errors_are_messages(checkout: Checkout, github: FakeGitHub) -> None:
    github.fail_with = (403, "Resource not accessible by integration")
    code, out, err = gh_pr(github)
    assert code == 2
    assert "error: GitHub: GET /repos/acme/infra/pulls: HTTP 403: Resource not accessible " \
           "by integration (does the token have pull-requests: write" in err
    assert "Traceback" not in out + err


def gl_pr(fake: FakeGitLab, *extra: str) -> tuple[int, str, str]:
    return run("pr", "examples", "--forge", "gitlab", "--api-url", fake.base_url,
               "--repository", "platform/net/infra", *extra)


def assert_gitlab_valid(fake: FakeGitLab) -> None:
    assert fake.requests
    for rec in fake.requests:
        assert gitlab_request_errors(rec.method, rec.path, rec.query, rec.body) == []


def test_gitlab_create_rerun_update_race(checkout: Checkout, gitlab: FakeGitLab) -> None:
    code, out, err = gl_pr(gitlab, "--draft")
    assert code == 0, err
    assert out.strip() == f"{gitlab.base_url}/platform/net/infra/-/merge_requests/1"
    mr: dict[str, Any] = gitlab.pulls[0]
    assert re.fullmatch(r"Draft: netpol-fix: \d+ fixes in payments, shop", mr["title"])
    assert mr["target_branch"] == "main"
    assert mr["labels"] == ["netpol-fix", "network-policy"]
    assert fingerprint_of(mr["description"])
    assert gitlab.requests[0].query == {"source_branch": mr["source_branch"],
                                        "state": "opened"}
    sent = len(gitlab.requests)
    code, _, err = gl_pr(gitlab)
    assert code == 0 and "unchanged pull request #1" in err
    assert len(gitlab.requests) == sent + 1
    mr["description"] = "edited"
    code, _, err = gl_pr(gitlab)
    assert "updated pull request #1" in err
    assert gitlab.requests[-1].method == "PUT"
    assert mr["title"].startswith("Draft: ")  # a draft stays a draft
    mr["description"] = "edited"
    gitlab.hide_next_find = True
    code, _, err = gl_pr(gitlab)
    assert code == 0 and "updated pull request #1" in err
    assert [r.method for r in gitlab.requests[-4:]] == ["GET", "POST", "GET", "PUT"]
    assert len(gitlab.pulls) == 1
    assert_gitlab_valid(gitlab)


def test_gitlab_encodes_nested_project_path(checkout: Checkout, gitlab: FakeGitLab) -> None:
    gl_pr(gitlab)
    assert gitlab.requests[0].path == "/projects/platform%2Fnet%2Finfra/merge_requests"
    assert all(r.headers["Private-Token"] == TOKEN for r in gitlab.requests)


@pytest.mark.parametrize("body, problem", [
    ({"head": "b", "base": "main"}, None),
    ({"title": "t", "head": "b", "base": "main", "labels": ["x"]}, "unknown field 'labels'"),
    ({"title": "t", "base": "main"}, "missing required field 'head'"),
    ({"title": 1, "head": "b", "base": "main"}, "expected string"),
])
def test_the_openapi_check_can_fail(github_openapi: OpenApi, body: dict[str, Any],
                                    problem: str | None) -> None:
    errors = github_openapi.request_errors("POST", "/repos/a/b/pulls", {}, body)
    if problem is None:
        assert errors == []  # title is required unless `issue` is given: GitHub's schema
    else:
        assert any(problem in e for e in errors), errors
    assert github_openapi.request_errors("PUT", "/repos/a/b/pulls", {}, None)
    assert github_openapi.request_errors("GET", "/repos/a/b/pulls", {"head_ref": "x"}, None)


def test_the_gitlab_check_can_fail() -> None:
    assert gitlab_request_errors("POST", "/projects/a%2Fb/merge_requests", {},
                                 {"source_branch": "b", "title": "t"})
    assert gitlab_request_errors("PUT", "/projects/a%2Fb/merge_requests/1", {},
                                 {"body": "x"})
    assert gitlab_request_errors("GET", "/projects/a%2Fb/merge_requests",
                                 {"state": "open"}, None)
    assert gitlab_request_errors("PATCH", "/projects/a%2Fb/merge_requests/1", {}, {})
