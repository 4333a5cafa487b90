"""A small stateful fake of the Kubernetes API server's read paths, for pytest-httpserver.

It answers like the real server: `<Kind>List` objects with `metadata.resourceVersion` and,
while more remains, `metadata.continue` and `metadata.remainingItemCount`; list items
without apiVersion and kind; `Status` objects for 401, 403, 404 and 410 (reason Expired on a
stale continue token); discovery for `/apis/cilium.io/v2` and the admin policy group
versions `/apis/policy.networking.k8s.io/v1alpha1|v1alpha2` (each served or a plain-text
404, as a server without the CRD answers). Only what it is given exists.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
from werkzeug import Request, Response

TOKEN = "fake-token-0123"
GROUPS = {  # (group, version) -> {plural: (Kind, namespaced)}
    ("", "v1"): {"namespaces": ("Namespace", False), "pods": ("Pod", True),
                 "services": ("Service", True), "nodes": ("Node", False)},
    ("apps", "v1"): {"daemonsets": ("DaemonSet", True)},
    ("networking.k8s.io", "v1"): {"networkpolicies": ("NetworkPolicy", True)},
    ("cilium.io", "v2"): {"ciliumnetworkpolicies": ("CiliumNetworkPolicy", True),
                          "ciliumclusterwidenetworkpolicies":
                              ("CiliumClusterwideNetworkPolicy", False)},
    ("policy.networking.k8s.io", "v1alpha1"): {
        "adminnetworkpolicies": ("AdminNetworkPolicy", False),
        "baselineadminnetworkpolicies": ("BaselineAdminNetworkPolicy", False)},
    ("policy.networking.k8s.io", "v1alpha2"): {
        "clusternetworkpolicies": ("ClusterNetworkPolicy", False)},
}
PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
                  r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<plural>[^/]+))?(?:/(?P<name>[^/]+))?$")
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted "
    "between the time the first chunk was returned and now may show up in the list.")


def status(code: int, reason: str, message: str, **extra: Any) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": extra.pop("metadata", {}),
            "status": "Failure", "message": message, "reason": reason, "code": code, **extra}
    return Response(json.dumps(body), status=code, content_type="application/json")


@dataclass
class FakeApi:
    """Objects by (group, version, plural); knobs for permissions and token expiry."""

    objects: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    """Plurals whose list and get answer 403; `list pods` forbids only listing."""
    cilium: bool = False
    """Whether the cilium.io/v2 group is served."""
    admin_versions: set[str] = field(default_factory=set)
    """Which versions of policy.networking.k8s.io are served (`v1alpha1`, `v1alpha2`)."""
    broken_discovery: set[str] = field(default_factory=set)
    """Group versions (`policy.networking.k8s.io/v1alpha1`) whose discovery answers 503."""
    expire_continues: int = 0
    """How many of the next requests that carry a continue token answer 410 Expired."""
    requests: list[str] = field(default_factory=list)
    resource_version: int = 4000
    patches: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    """The JSON patches stored (not the dry-runs), as (path, operations)."""

    def add(self, obj: dict[str, Any]) -> None:
        """Store an object as the server would: without apiVersion/kind in lists, with a
        resourceVersion and uid of its own."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        group, _, version = api_version.rpartition("/")
        plural = next(p for p, (k, _n) in GROUPS[(group, version)].items() if k == kind)
        item = copy.deepcopy(obj)
        del item["apiVersion"], item["kind"]
        self.resource_version += 1
        meta = item.setdefault("metadata", {})
        meta.setdefault("resourceVersion", str(self.resource_version))
        meta.setdefault("uid", f"00000000-0000-4000-8000-{self.resource_version:012d}")
        meta.setdefault("creationTimestamp", "2026-11-20T10:00:00Z")
        self.objects.setdefault((group, version, plural), []).append(item)

    def add_all(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self.add(obj)

    def handle(self, request: Request) -> Response:
        self.requests.append(request.full_path.rstrip("?"))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return status(401, "Unauthorized", "Unauthorized")
        match = PATH.match(request.path)
        if not match:
            return status(404, "NotFound", "the server could not find the requested resource")
        group = "" if match["core"] else match["group"]
        version = match["core"] or match["version"]
        if (group, version) == ("cilium.io", "v2") and not self.cilium:
            return Response("404 page not found\n", status=404, content_type="text/plain")
        if group == "policy.networking.k8s.io" and version not in self.admin_versions:
            return Response("404 page not found\n", status=404, content_type="text/plain")
        if f"{group}/{version}" in self.broken_discovery and match["plural"] is None:
            return status(503, "ServiceUnavailable", "the server is currently unable to "
                          "handle the request")
        resources = GROUPS.get((group, version))
        if resources is None:
            return Response("404 page not found\n", status=404, content_type="text/plain")
        namespace, plural, name = match["ns"], match["plural"], match["name"]
        if group == "" and plural is None and namespace:  # GET /api/v1/namespaces/NAME
            plural, name, namespace = "namespaces", namespace, None
        if plural is None:
            return self._discovery(group, version, resources)
        if plural not in resources:
            return status(404, "NotFound", "the server could not find the requested resource")
        kind, namespaced = resources[plural]
        if namespace and not namespaced:
            return status(404, "NotFound", "the server could not find the requested resource")
        verb = "get" if name else "list"
        if plural in self.forbidden or f"{verb} {plural}" in self.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            return status(403, "Forbidden",
                          f'{plural} is forbidden: User "system:serviceaccount:ops:reader" '
                          f'cannot {verb} resource "{plural}" in API group "{group}" {scope}',
                          details={"kind": plural})
        items = [i for i in self.objects.get((group, version, plural), [])
                 if not namespace or i["metadata"].get("namespace") == namespace]
        if name:
            found = next((i for i in items if i["metadata"]["name"] == name), None)
            if found is None:
                return status(404, "NotFound", f'{plural} "{name}" not found',
                              details={"name": name, "kind": plural})
            whole = {"kind": kind, "apiVersion": _api_version(group, version), **found}
            if request.method == "PATCH":
                return self._patch(request, whole, found)
            return self._json(whole)
        return self._list(request, kind, group, version, items)

    def _patch(self, request: Request, whole: dict[str, Any],
               stored: dict[str, Any]) -> Response:
        """JSON patch as the real server answers it (measured, see README): 415 for another
        content type, 422 when a `test` fails, dryRun=All returns without storing."""
        if request.content_type != "application/json-patch+json":
            return status(415, "UnsupportedMediaType", "the body is not a JSON patch")
        try:
            result = jsonpatch.apply_patch(whole, json.loads(request.get_data()))
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as err:
            return status(422, "Invalid", f"the server rejected our request: {err}")
        if request.args.get("dryRun") != "All":
            self.resource_version += 1
            result["metadata"]["resourceVersion"] = str(self.resource_version)
            stored.clear()
            stored.update({k: v for k, v in result.items() if k not in ("apiVersion", "kind")})
            self.patches.append((request.path, json.loads(request.get_data())))
        return self._json(result)

    def _list(self, request: Request, kind: str, group: str, version: str,
              items: list[dict[str, Any]]) -> Response:
        limit = int(request.args.get("limit") or 0) or len(items) or 1
        token = request.args.get("continue")
        start = 0
        if token:
            if self.expire_continues > 0:
                self.expire_continues -= 1
                return status(410, "Expired", EXPIRED_MESSAGE,
                              metadata={"continue": _token(start + limit)})
            start = json.loads(base64.b64decode(token))["start"]
        page = items[start:start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if start + limit < len(items):
            meta["continue"] = _token(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        return self._json({"kind": f"{kind}List", "apiVersion": _api_version(group, version),
                           "metadata": meta, "items": page})

    def _discovery(self, group: str, version: str,
                   resources: dict[str, tuple[str, bool]]) -> Response:
        return self._json({
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": _api_version(group, version),
            "resources": [{"name": plural, "singularName": kind.lower(), "namespaced": ns,
                           "kind": kind, "verbs": ["get", "list", "watch", "patch"]}
                          for plural, (kind, ns) in resources.items()]})

    @staticmethod
    def _json(data: dict[str, Any]) -> Response:
        return Response(json.dumps(data), status=200, content_type="application/json")


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _token(start: int) -> str:
    return base64.b64encode(json.dumps({"start": start, "rv": 4000}).encode()).decode()


def write_kubeconfig(path: Path, server: str, namespace: str | None = None,
                     token: str = TOKEN) -> Path:
    """A kubeconfig like kubectl writes, with a token user and one context."""
    context: dict[str, Any] = {"cluster": "fake", "user": "reader"}
    if namespace:
        context["namespace"] = namespace
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "reader", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": context}],
    }))
    return path
