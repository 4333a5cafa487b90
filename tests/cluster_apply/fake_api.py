"""A small stateful fake of the Kubernetes API for what the test server cannot serve.

The real test server (scripts/test-cluster) is apiextensions-apiserver: CRDs only, no core
API, so Namespace patches are tested here. The fake implements exactly the semantics
netpol-fix relies on, as measured on a real server (see README): GET of an object, PATCH
only as `application/json-patch+json` (415 otherwise), RFC 6902 with a failing `test` giving
422, `dryRun=All` answering the patched object without storing it, a new resourceVersion on
every stored change. `fail_next` queues error answers (429 with Retry-After, 503, 500...)
to exercise retries through the real client.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonpatch
import jsonpointer
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

JSON_PATCH = "application/json-patch+json"


def status(code: int, reason: str, message: str) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return Response(json.dumps(body), status=code, content_type="application/json")


class FakeApi:
    """Objects by URL path; every request is recorded as (method, path, query, body)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.failures: list[tuple[int, dict[str, str]]] = []
        self._version = 100
        api = re.compile(r"^/api/.*")
        server.expect_request(api, method="GET").respond_with_handler(self._get)
        server.expect_request(api, method="PATCH").respond_with_handler(self._patch)

    @property
    def kubeconfig_text(self) -> str:
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: fake, cluster: {{server: '{self.server.url_for('')[:-1]}'}}}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: u}}]\n"
            "current-context: fake\n")

    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        obj = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "uid": f"uid-{name}",
                            "creationTimestamp": "2026-01-01T00:00:00Z",
                            "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
                            "resourceVersion": self._next_version()},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        self.objects[f"/api/v1/namespaces/{name}"] = obj
        return obj

    def change(self, path: str, operations: list[dict[str, Any]]) -> None:
        """Someone else's write: apply operations and bump the resourceVersion."""
        obj = jsonpatch.apply_patch(self.objects[path], operations)
        obj["metadata"]["resourceVersion"] = self._next_version()
        self.objects[path] = obj

    def fail_next(self, code: int, headers: dict[str, str] | None = None) -> None:
        self.failures.append((code, headers or {}))

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _record(self, request: Request) -> Response | None:
        body = json.loads(request.data) if request.data else None
        self.requests.append((request.method, request.path, dict(request.args), body))
        if self.failures:
            code, headers = self.failures.pop(0)
            answer = status(code, "Injected", f"injected {code}")
            answer.headers.update(headers)
            return answer
        return None

    def _get(self, request: Request) -> Response:
        failure = self._record(request)
        if failure is not None:
            return failure
        obj = self.objects.get(request.path)
        if obj is None:
            return status(404, "NotFound", f"{request.path} not found")
        return Response(json.dumps(obj), content_type="application/json")

    def _patch(self, request: Request) -> Response:
        failure = self._record(request)
        if failure is not None:
            return failure
        if request.content_type != JSON_PATCH:
            return status(415, "UnsupportedMediaType",
                          f"the body of the request was in an unknown format: "
                          f"{request.content_type}")
        obj = self.objects.get(request.path)
        if obj is None:
            return status(404, "NotFound", f"{request.path} not found")
        try:
            patched = jsonpatch.apply_patch(copy.deepcopy(obj), json.loads(request.data))
        except jsonpatch.JsonPatchTestFailed as err:
            return status(422, "Invalid", f"the server rejected our request: {err}")
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            return status(422, "Invalid", str(err))
        if request.args.get("dryRun") != "All" and patched != obj:
            patched["metadata"]["resourceVersion"] = self._next_version()
            self.objects[request.path] = patched
        return Response(json.dumps(patched), content_type="application/json")
