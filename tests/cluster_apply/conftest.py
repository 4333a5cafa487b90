"""Fixtures: the fake core API (pytest-httpserver) and the real test cluster.

The `cluster` session fixture runs `scripts/test-cluster up --lease PID` (building the server
on first use) and FAILS the tests when that does not work: the integration tests are never
skipped silently. Deselect them locally with `-m "not cluster"`. When the session ends it runs
`scripts/test-cluster release PID`, which stops the server only if a test session started it
and no other live session holds a lease: a server a developer started by hand
(`scripts/test-cluster up`) is left running.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config
from pytest_httpserver import HTTPServer

from netpol_fix.cluster import objects as kube_objects
from tests.cluster_apply.fake_api import FakeApi

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "test-cluster"
BUILD_TIMEOUT = 20 * 60  # a cold build takes ~8 minutes on two cores


def write_after_each_read(monkeypatch: pytest.MonkeyPatch, write: Callable[[int], Any],
                          times: int | None = None) -> None:
    """Someone else writes the object between apply's read and its patch: after each of
    the first `times` reads (all of them when None), `write(n)` runs with n = 1, 2, ..."""
    real_get = kube_objects.ClusterObjects.get
    count = 0

    def get_then_someone_writes(self: Any, ref: Any) -> Any:
        nonlocal count
        live = real_get(self, ref)
        if times is None or count < times:
            count += 1
            write(count)
        return live

    monkeypatch.setattr(kube_objects.ClusterObjects, "get", get_then_someone_writes)


@pytest.fixture
def fake_api(httpserver: HTTPServer, tmp_path: Path) -> FakeApi:
    api = FakeApi(httpserver)
    (tmp_path / "fake-kubeconfig").write_text(api.kubeconfig_text)
    return api


@pytest.fixture
def fake_kubeconfig(fake_api: FakeApi, tmp_path: Path) -> Path:
    return tmp_path / "fake-kubeconfig"


@pytest.fixture(scope="session")
def cluster_kubeconfig() -> Iterator[Path]:
    """Path of the test cluster's kubeconfig: the last line `scripts/test-cluster up` prints.
    The session holds a lease on the server while it runs and releases it at the end."""
    lease = str(os.getpid())
    try:
        try:
            run = subprocess.run([str(SCRIPT), "up", "--lease", lease], capture_output=True,
                                 text=True, timeout=BUILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as err:
            pytest.fail(f"scripts/test-cluster up timed out after {err.timeout} s")
        lines = run.stdout.strip().splitlines()
        if run.returncode != 0 or not lines or not Path(lines[-1]).is_file():
            pytest.fail(f"scripts/test-cluster up failed (exit {run.returncode}):\n"
                        f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        yield Path(lines[-1])
    finally:
        subprocess.run([str(SCRIPT), "release", lease], capture_output=True,
                       timeout=BUILD_TIMEOUT, check=False)


@pytest.fixture(scope="session")
def cluster_client(cluster_kubeconfig: Path) -> Iterator[k8s.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(cluster_kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture
def namespace() -> str:
    """A fresh namespace name per test: the server has no Namespace objects to create
    (no core API), and namespaced CRD objects need none, so names only keep tests apart."""
    return f"t-{uuid.uuid4().hex[:10]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the `cluster` tests last, so that a cold build of the server (started in the
    background by .ci/run) overlaps with every other test."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)
