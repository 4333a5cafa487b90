"""Fixtures for `pr`: a real git repository with a bare remote, forge fakes, GitHub's
OpenAPI description from npm (installed once into a cache outside the repository)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from tests.pr.fakes import FakeGitHub, FakeGitLab
from tests.pr.schema import OpenApi

REPO = Path(__file__).resolve().parents[2]
OCTOKIT_CACHE = Path(os.environ.get("NETPOL_FIX_OCTOKIT_CACHE",
                                    Path.home() / ".cache" / "netpol-fix" / "octokit"))
OPENAPI_FILE = "node_modules/@octokit/openapi/generated/api.github.com.deref.json"
TOKEN = "ghp_s3cretT0kenValue1234567890abcdef"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


class Checkout:
    """A clone-like repository (`repo`) whose `origin` is a bare repository over file://."""

    def __init__(self, root: Path) -> None:
        self.remote = root / "remote.git"
        self.repo = root / "repo"
        git(root, "init", "--quiet", "--bare", "-b", "main", str(self.remote))
        git(root, "init", "--quiet", "-b", "main", str(self.repo))
        git(self.repo, "config", "user.name", "Dev")
        git(self.repo, "config", "user.email", "dev@example.com")
        shutil.copytree(REPO / "examples", self.repo / "examples")
        git(self.repo, "add", ".")
        git(self.repo, "commit", "--quiet", "-m", "manifests")
        git(self.repo, "remote", "add", "origin", self.remote.as_uri())
        git(self.repo, "push", "--quiet", "origin", "main")

    def remote_refs(self) -> dict[str, str]:
        lines = git(self.remote, "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split(" ") for line in lines.splitlines())

    def remote_commits(self) -> set[str]:
        return set(git(self.remote, "rev-list", "--all").split())

    def remote_file(self, ref: str, path: str) -> str:
        return git(self.remote, "show", f"{ref}:{path}")


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Checkout:
    for name in ("GITHUB_TOKEN", "GITLAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    made = Checkout(tmp_path)
    monkeypatch.chdir(made.repo)
    return made


@pytest.fixture
def github(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A fake GitHub Enterprise API under /api/v3; GITHUB_TOKEN set to TOKEN."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fake = FakeGitHub(httpserver.url_for("").rstrip("/"), prefix="/api/v3", token=TOKEN)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    yield fake


@pytest.fixture
def gitlab(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitLab]:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    fake = FakeGitLab(httpserver.url_for("").rstrip("/"), prefix="/api/v4", token=TOKEN)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    yield fake


@pytest.fixture(scope="session")
def github_openapi() -> OpenApi:
    """GitHub's published OpenAPI description. Installing it must work: a failure fails
    the tests that need it rather than skipping them, so CI cannot pass without it."""
    path = OCTOKIT_CACHE / OPENAPI_FILE
    if not path.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install @octokit/openapi (GitHub's OpenAPI)")
        OCTOKIT_CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix",
                               str(OCTOKIT_CACHE), "@octokit/openapi"],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0 or not path.is_file():
            pytest.fail(f"npm install @octokit/openapi failed: {done.stderr[-2000:]}")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return OpenApi(document)
