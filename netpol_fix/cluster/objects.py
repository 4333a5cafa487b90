"""Read, JSON-patch and create the few kinds netpol-fix changes, as plain JSON dicts.

Objects are exchanged as the server's own JSON (`_preload_content=False`), never through the
client's models: a model drops fields it does not know and renames the rest, and the `test`
operations of a fix must be checked against exactly what the server stores. Every write is a
JSON patch (RFC 6902) sent as a list with `application/json-patch+json`: the client would
otherwise pick strategic merge for dicts, which custom resources reject (415).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s

from netpol_fix.cluster.retry import RetryPolicy

FIELD_MANAGER = "netpol-fix"
JSON_PATCH = "application/json-patch+json"


class UnsupportedKind(Exception):
    """A patch or new object of a kind netpol-fix does not write."""


@dataclass(frozen=True)
class Ref:
    """Which object: apiVersion and kind choose the API, namespace None = cluster-scoped."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ref:
        return cls(data["apiVersion"], data["kind"], data.get("namespace"), data["name"])

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Ref:
        meta = obj.get("metadata") or {}
        return cls(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class CustomKind:
    group: str
    version: str
    plural: str
    namespaced: bool


CUSTOM_KINDS: dict[tuple[str, str], CustomKind] = {
    ("cilium.io/v2", "CiliumNetworkPolicy"):
        CustomKind("cilium.io", "v2", "ciliumnetworkpolicies", True),
    ("cilium.io/v2", "CiliumClusterwideNetworkPolicy"):
        CustomKind("cilium.io", "v2", "ciliumclusterwidenetworkpolicies", False),
    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"):
        CustomKind("policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies", False),
    ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"):
        CustomKind("policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
                   False),
    ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"):
        CustomKind("policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies", False),
}
"""Custom kinds a fix patches or creates: Cilium policies and the admin tiers
(kubernetes-sigs/network-policy-api), all through the custom objects API."""
SINGLETON_NAMES = {("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"): "default"}
"""Kinds whose CRD admits one name only: the BANP CRD validates `self.metadata.name ==
'default'` ("Only one baseline admin network policy with metadata.name=\"default\" can be
created in the cluster")."""
NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
NAMESPACE = ("v1", "Namespace")
SUPPORTED = sorted(f"{v} {k}" for v, k in [NETWORK_POLICY, NAMESPACE, *CUSTOM_KINDS])


def create_refusal(obj: dict[str, Any]) -> str | None:
    """Why `obj` cannot be created whatever the cluster holds, or None: a singleton kind
    under another name (the server would answer 422 after the dry-run)."""
    ref = Ref.of(obj)
    name = SINGLETON_NAMES.get((ref.api_version, ref.kind))
    if name is not None and ref.name != name:
        return (f"a {ref.kind} must be named {name!r} (the CRD admits only that name); "
                "edit the existing one instead")
    return None


def _json(response: Any) -> dict[str, Any]:
    data = json.loads(response.data)
    if not isinstance(data, dict):
        raise TypeError("the API server answered with something other than an object")
    return data


def _write_options(dry_run: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"field_manager": FIELD_MANAGER, "_preload_content": False}
    if dry_run:
        options["dry_run"] = "All"
    return options


class ClusterObjects:
    """get / patch / create by `Ref`, each call retried under `retry`."""

    def __init__(self, api_client: k8s.ApiClient, retry: RetryPolicy | None = None) -> None:
        self.networking = k8s.NetworkingV1Api(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.retry = retry or RetryPolicy()

    def get(self, ref: Ref) -> dict[str, Any] | None:
        """The live object, or None when it does not exist (404)."""
        try:
            return _json(self.retry.call(lambda: self._get(ref)))
        except k8s.ApiException as err:
            if err.status == 404:
                return None
            raise

    def patch(self, ref: Ref, operations: list[dict[str, Any]], *, dry_run: bool
              ) -> dict[str, Any]:
        """Send `operations` as a JSON patch; returns the object the server (would) store."""
        return _json(self.retry.call(lambda: self._patch(ref, operations, dry_run)))

    def create(self, obj: dict[str, Any], *, dry_run: bool) -> dict[str, Any]:
        """Create a custom object (the only kinds a fix creates: Cilium and admin policies)."""
        ref = Ref.of(obj)
        kind = self._custom_kind(ref)
        options = _write_options(dry_run)
        if kind.namespaced:
            namespace = self._namespace(ref)
            return _json(self.retry.call(lambda: self.custom.create_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, obj, **options)))
        return _json(self.retry.call(lambda: self.custom.create_cluster_custom_object(
            kind.group, kind.version, kind.plural, obj, **options)))

    def _get(self, ref: Ref) -> Any:
        key = (ref.api_version, ref.kind)
        if key == NETWORK_POLICY:
            return self.networking.read_namespaced_network_policy(
                ref.name, self._namespace(ref), _preload_content=False)
        if key == NAMESPACE:
            return self.core.read_namespace(ref.name, _preload_content=False)
        kind = self._custom_kind(ref)
        if kind.namespaced:
            return self.custom.get_namespaced_custom_object(
                kind.group, kind.version, self._namespace(ref), kind.plural, ref.name,
                _preload_content=False)
        return self.custom.get_cluster_custom_object(
            kind.group, kind.version, kind.plural, ref.name, _preload_content=False)

    def _patch(self, ref: Ref, operations: list[dict[str, Any]], dry_run: bool) -> Any:
        key = (ref.api_version, ref.kind)
        options = {**_write_options(dry_run), "_content_type": JSON_PATCH}
        body = list(operations)  # a list: the client would send a dict as a merge patch
        if key == NETWORK_POLICY:
            return self.networking.patch_namespaced_network_policy(
                ref.name, self._namespace(ref), body, **options)
        if key == NAMESPACE:
            return self.core.patch_namespace(ref.name, body, **options)
        kind = self._custom_kind(ref)
        if kind.namespaced:
            return self.custom.patch_namespaced_custom_object(
                kind.group, kind.version, self._namespace(ref), kind.plural, ref.name, body,
                **options)
        return self.custom.patch_cluster_custom_object(
            kind.group, kind.version, kind.plural, ref.name, body, **options)

    @staticmethod
    def _custom_kind(ref: Ref) -> CustomKind:
        kind = CUSTOM_KINDS.get((ref.api_version, ref.kind))
        if kind is None:
            raise UnsupportedKind(f"netpol-fix does not write {ref.api_version} {ref.kind} "
                                  f"(it writes {', '.join(SUPPORTED)})")
        return kind

    @staticmethod
    def _namespace(ref: Ref) -> str:
        if not ref.namespace:
            raise UnsupportedKind(f"{ref} has no namespace, but {ref.kind} is namespaced")
        return ref.namespace
