"""Fixtures: the fake API server behind pytest-httpserver and a kubeconfig pointing at it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.cluster.fakeapi import FakeApi, write_kubeconfig


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeApi:
    api = FakeApi()
    httpserver.expect_request(re.compile(".*")).respond_with_handler(api.handle)
    return api


@pytest.fixture
def kubeconfig(httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kubeconfig for the fake; in-cluster variables and $KUBECONFIG are cleared so the
    developer's own environment never decides which server a test talks to."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    server = f"http://127.0.0.1:{httpserver.port}"
    return str(write_kubeconfig(tmp_path / "kubeconfig", server))
