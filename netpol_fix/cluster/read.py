"""Read a live cluster into SourceObjects (`--cluster`), shaped exactly like `kubectl -o json`.

Why raw JSON and not the client's models: the client's models turn `podSelector` into
`pod_selector` and drop fields they do not know, while the inventory, the rules and the JSON
patches of fixes all work on the API's own shape (a patch path is `/spec/podSelector`).
So the kubernetes client provides configuration, authentication and transport, and the lists
are fetched here as JSON: paged with `limit`/`continue`, restarted when a continue token
expires (410 Gone), with a permission problem on one kind reported as a warning while the
rest is still analysed. Connection and authentication failures raise ClusterUnreachable,
one clear message the CLI prints without a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from netpol_fix.cluster.kubeconfig import (
    ClusterUnreachable,
    client_configuration,
)
from netpol_fix.inventory.cni import CniDetection, detect_cni
from netpol_fix.model.objects import InputError, SourceObject
from netpol_fix.model.secrets import scrub

LIST_LIMIT = 500
MAX_LIST_RESTARTS = 3
REQUEST_TIMEOUT = (10, 60)
"""Connect and read timeouts in seconds: an unroutable server fails in seconds, not minutes."""
CONNECT_RETRIES = 1
"""One retry of a failed connection (urllib3 would do 3): a dead server fails in ~20 s."""
CLUSTER_FILE = "<cluster>"
CLUSTER_SCOPED_KINDS = frozenset({"Namespace", "Node", "CiliumClusterwideNetworkPolicy",
                                  "AdminNetworkPolicy", "BaselineAdminNetworkPolicy",
                                  "ClusterNetworkPolicy"})
NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Resource:
    """One listable kind: where it lives in the API and what its items are."""

    kind: str
    api_version: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None) -> str:
        root = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def rbac(self) -> str:
        """The resource as an RBAC rule names it: `pods`, `networkpolicies.networking.k8s.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NETWORK_POLICIES = Resource("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", True)
NAMESPACES = Resource("Namespace", "v1", "namespaces", False)
PODS = Resource("Pod", "v1", "pods", True)
SERVICES = Resource("Service", "v1", "services", True)
DAEMONSETS = Resource("DaemonSet", "apps/v1", "daemonsets", True)
NODES = Resource("Node", "v1", "nodes", False)
CILIUM_POLICIES = Resource("CiliumNetworkPolicy", "cilium.io/v2", "ciliumnetworkpolicies", True)
CILIUM_CLUSTERWIDE = Resource("CiliumClusterwideNetworkPolicy", "cilium.io/v2",
                              "ciliumclusterwidenetworkpolicies", False)
CILIUM_DISCOVERY = "/apis/cilium.io/v2"
ADMIN_POLICIES = Resource("AdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1",
                          "adminnetworkpolicies", False)
BASELINE_ADMIN_POLICIES = Resource("BaselineAdminNetworkPolicy",
                                   "policy.networking.k8s.io/v1alpha1",
                                   "baselineadminnetworkpolicies", False)
CLUSTER_NETWORK_POLICIES = Resource("ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2",
                                    "clusternetworkpolicies", False)
TIER_KINDS: tuple[tuple[Resource, str], ...] = (
    (ADMIN_POLICIES, ("the verdicts leave the AdminNetworkPolicy tier out: an ANP Allow or "
     "Deny decides before every NetworkPolicy, so any verdict may be wrong")),
    (BASELINE_ADMIN_POLICIES, ("the verdicts leave the BaselineAdminNetworkPolicy tier out: "
     "traffic that no NetworkPolicy isolates is shown allowed, though a BANP may deny it")),
    (CLUSTER_NETWORK_POLICIES, ("the verdicts leave the ClusterNetworkPolicy Admin and "
     "Baseline tiers out: one may decide before or after every NetworkPolicy, so any verdict "
     "may be wrong")),
)
"""The admin tiers (kubernetes-sigs/network-policy-api), all cluster-scoped: read whatever
the namespace scope, since they select the namespace's pods from outside it."""
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
"""Pods in these phases hold no address and receive no traffic."""


ADMIN_FAMILY, CILIUM_FAMILY = "admin", "cilium"


@dataclass(frozen=True)
class UnreadTier:
    """A policy kind (or group version) served but not read, and why: `AdminNetworkPolicy
    (403 Forbidden)`. `family` says which CNIs would enforce it (admin or cilium)."""

    family: str
    text: str


@dataclass
class ClusterRead:
    """What the cluster held: objects (location None, the API's JSON with apiVersion and kind
    set), permission and API problems as InputErrors, and the detected CNI."""

    objects: list[SourceObject]
    errors: list[InputError]
    cni: CniDetection | None
    server: str = ""
    namespace: str | None = None
    """The namespace read, None for all namespaces."""
    notes: list[str] = field(default_factory=list)
    node_addresses: tuple[str, ...] = ()
    """The nodes' InternalIP addresses: what a hostNetwork pod's traffic carries."""
    unread_tiers: list[UnreadTier] = field(default_factory=list)
    """Policy kinds the cluster serves but that could not be read: every verdict leaves
    them out, so `explain` marks it uncertain (where the CNI would enforce them)."""


class _ApiError(Exception):
    """A non-2xx answer: the status code and the API's Status reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        reason, message = scrub(reason), scrub(message)  # a server may echo credentials
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


def _status_error(status: int, body: bytes | str | None) -> _ApiError:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return _ApiError(status, str(data.get("reason") or ""),
                     str(data.get("message") or text.strip()[:200]))


class _Http:
    """GET of one API path as JSON through the kubernetes client's ApiClient (its auth,
    TLS, proxy and token refresh), for both generations of the client's call_api."""

    def __init__(self, api_client: Any) -> None:
        self.api = api_client
        self.server = str(api_client.configuration.host)

    def get(self, path: str, query: Sequence[tuple[str, Any]] = ()) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        try:
            if hasattr(self.api, "param_serialize"):  # kubernetes >= 36 (new generator)
                method, url, headers, _, _ = self.api.param_serialize(
                    "GET", path, query_params=list(query), header_params=headers,
                    auth_settings=["BearerToken"])
                response = self.api.call_api(method, url, headers,
                                             _request_timeout=REQUEST_TIMEOUT)
                response.read()
                status, body = response.status, response.data
            else:  # the python-legacy generator: raises ApiException on non-2xx
                response = self.api.call_api(
                    path, "GET", query_params=list(query), header_params=headers,
                    auth_settings=["BearerToken"], _preload_content=False,
                    _return_http_data_only=True, _request_timeout=REQUEST_TIMEOUT)
                status, body = response.status, response.data
        except ApiException as err:
            if not err.status:
                raise ClusterUnreachable(f"cannot reach {self.server}: {err.reason}") from None
            status, body = err.status, err.body
        except Exception as err:  # noqa: BLE001 - urllib3/socket errors of every kind
            raise ClusterUnreachable(f"cannot reach {self.server}: {_root_cause(err)}") \
                from None
        if status == 401:
            raise ClusterUnreachable(f"{self.server} rejected the credentials (401 "
                                     "Unauthorized): log in again or check the kubeconfig")
        if not 200 <= status <= 299:
            raise _status_error(status, body)
        try:
            data = json.loads(body)
        except ValueError:
            raise ClusterUnreachable(f"{self.server}{path} did not answer with JSON; is it a "
                                     "Kubernetes API server?") from None
        if not isinstance(data, dict):
            raise ClusterUnreachable(f"{self.server}{path} answered with unexpected JSON")
        return data


def _root_cause(err: BaseException) -> str:
    """The innermost reason (`[Errno 111] Connection refused`), not urllib3's nested retry
    message with object addresses in it."""
    cause: BaseException = err
    while isinstance(getattr(cause, "reason", None), BaseException):
        cause = cause.reason  # type: ignore[attr-defined]
    text = str(cause)
    if "[Errno" in text:
        text = text[text.index("[Errno"):]
    return text or type(cause).__name__


class _Progress:
    """A one-line counter on stderr, only on a terminal (never in pipes, files or CI)."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()

    def update(self, what: str, count: int) -> None:
        if self.enabled:
            self.stream.write(f"\rreading {what}: {count}\x1b[K")
            self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------


class _Lister:
    def __init__(self, http: _Http, progress: _Progress) -> None:
        self.http = http
        self.progress = progress

    def list(self, resource: Resource, namespace: str | None) -> list[dict[str, Any]]:
        """Every item, paged; a 410 (expired continue token) restarts the list, because
        pages of different snapshots cannot be mixed into one consistent list."""
        path = resource.path(namespace)
        for _attempt in range(MAX_LIST_RESTARTS + 1):
            items: list[dict[str, Any]] = []
            token = ""
            try:
                while True:
                    query: list[tuple[str, Any]] = [("limit", LIST_LIMIT)]
                    if token:
                        query.append(("continue", token))
                    page = self.http.get(path, query)
                    items += _typed_items(page, resource)
                    self.progress.update(resource.plural, len(items))
                    token = str((page.get("metadata") or {}).get("continue") or "")
                    if not token:
                        return items
            except _ApiError as err:
                if err.status != 410 or not token:
                    raise
        raise _ApiError(410, "Expired", f"the list of {resource.plural} kept expiring while "
                        f"being paged ({MAX_LIST_RESTARTS} restarts)")


def _typed_items(page: dict[str, Any], resource: Resource) -> list[dict[str, Any]]:
    """Items with apiVersion and kind, which the API leaves out of list items."""
    list_kind = str(page.get("kind") or "")
    kind = list_kind.removesuffix("List") if list_kind.endswith("List") else resource.kind
    api_version = str(page.get("apiVersion") or resource.api_version)
    items = []
    for item in page.get("items") or []:
        if isinstance(item, dict):
            items.append({"apiVersion": api_version, "kind": kind, **item})
    return items


def _scope(namespace: str | None) -> str:
    return f"in namespace {namespace}" if namespace else "in all namespaces"


def _permission_message(resource: Resource, namespace: str | None, err: _ApiError,
                        consequence: str) -> str:
    verb = "list"
    where = _scope(namespace) if resource.namespaced else "(cluster-scoped)"
    if err.status == 403:
        return (f"cannot list {resource.plural} {where}: forbidden (needs verb "
                f"'{verb}' on resource '{resource.rbac()}'); {consequence}")
    return (f"cannot list {resource.plural} {where}: {err.status} "
            f"{err.reason or 'error'}: {err.message}; {consequence}")


class _Session:
    """One read of the cluster: the lister plus the ClusterRead being filled."""

    def __init__(self, lister: _Lister, result: ClusterRead) -> None:
        self.lister = lister
        self.result = result

    def warn(self, message: str, severity: str = "warning") -> None:
        self.result.errors.append(InputError(CLUSTER_FILE, None, None, message, severity))

    def read(self, resource: Resource, namespace: str | None, consequence: str,
             severity: str = "warning") -> list[dict[str, Any]] | None:
        try:
            return self.lister.list(resource, namespace)
        except _ApiError as err:
            self.warn(_permission_message(resource, namespace, err, consequence),
                      severity if err.status in (403, 404) else "error")
            return None

    def keep(self, items: Sequence[dict[str, Any]]) -> None:
        self.result.objects.extend(SourceObject(item, None) for item in items)

    def namespaces(self, namespace: str | None) -> None:
        """All namespaces (namespaceSelectors look at every namespace's labels). Under -n
        without list permission, the one namespace by `get`, else synthesized with only the
        label the API server sets on every namespace."""
        if namespace is None:
            found = self.read(NAMESPACES, None, "namespaceSelectors are evaluated against "
                              "each namespace's automatic name label only")
            self.keep(found or [])
            return
        try:
            self.keep(self.lister.list(NAMESPACES, None))
            return
        except _ApiError:
            pass  # the one namespace may still be readable by `get`
        try:
            one = self.lister.http.get(f"/api/v1/namespaces/{namespace}")
            self.keep([{"apiVersion": "v1", "kind": "Namespace", **one}])
        except _ApiError as err:
            self.keep([{"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace, "labels": {NAME_LABEL: namespace}}}])
            self.warn(f"cannot read namespace {namespace} ({err.status} {err.reason}; needs "
                      "verb 'list' or 'get' on resource 'namespaces'); namespaceSelectors "
                      "see only its automatic name label, other namespaces are unknown")

    def served(self, group_version: str, what: str, family: str) -> set[str]:
        """The resources the API discovery document of `group_version` lists; empty when
        the group is not served (404: its CRDs are not installed, and nothing is said)."""
        path = f"/apis/{group_version}"
        try:
            discovery = self.lister.http.get(path)
        except _ApiError as err:
            if err.status != 404:
                self.warn(f"cannot read API discovery {path}: {err.status} {err.reason}; "
                          f"{what} not read")
                self.result.unread_tiers.append(
                    UnreadTier(family, f"{what} ({err.status} {err.reason})"))
            return set()
        return {str(r.get("name")) for r in discovery.get("resources") or []
                if isinstance(r, dict)}

    def read_tier(self, resource: Resource, namespace: str | None, consequence: str,
                  family: str) -> None:
        """One policy kind that decides verdicts: kept, or recorded as an unread tier."""
        try:
            self.keep(self.lister.list(resource, namespace))
        except _ApiError as err:
            self.warn(_permission_message(resource, namespace, err, consequence),
                      "warning" if err.status in (403, 404) else "error")
            self.result.unread_tiers.append(UnreadTier(
                family, f"{resource.kind} ({err.status} {err.reason or 'error'})"))

    def cilium(self, namespace: str | None) -> bool:
        """Cilium policies when their CRDs are served; True when cilium.io/v2 is served."""
        served = self.served(CILIUM_DISCOVERY.removeprefix("/apis/"), "Cilium policies",
                             CILIUM_FAMILY)
        for resource, scope in ((CILIUM_POLICIES, namespace), (CILIUM_CLUSTERWIDE, None)):
            if resource.plural in served:
                self.read_tier(resource, scope, f"{resource.kind}s not analysed: the "
                               "verdicts leave them out", CILIUM_FAMILY)
        return bool(served & {CILIUM_POLICIES.plural, CILIUM_CLUSTERWIDE.plural})

    def admin_tiers(self) -> None:
        """AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1), ClusterNetworkPolicy
        (v1alpha2), each when its group version is served; cluster-scoped, so read
        cluster-wide under `-n` too."""
        served: dict[str, set[str]] = {}
        for resource, consequence in TIER_KINDS:
            if resource.api_version not in served:
                served[resource.api_version] = self.served(
                    resource.api_version, f"{resource.api_version} policies", ADMIN_FAMILY)
            if resource.plural in served[resource.api_version]:
                self.read_tier(resource, None, consequence, ADMIN_FAMILY)

    def detect(self, pods: Sequence[dict[str, Any]], cilium_served: bool) -> CniDetection:
        daemonsets = self.read(DAEMONSETS, None, "the CNI is detected from pods only (or give "
                               "--cni)")
        detection = detect_cni(daemonsets or [], pods)
        if detection.name == "unknown" and detection.network_policy_enforced is None:
            try:
                nodes = self.lister.list(NODES, None)
            except _ApiError as err:
                return CniDetection("unknown", f"{detection.reason}; nodes not readable "
                                    f"({err.status} {err.reason}), so k3s's embedded Flannel "
                                    "cannot be recognised", None)
            detection = detect_cni(daemonsets or [], pods, nodes)
        if detection.name == "cilium" and cilium_served:
            detection = CniDetection(detection.name, detection.reason + "; the cilium.io/v2 "
                                     "API is served", detection.network_policy_enforced)
        return detection


def _node_addresses(session: _Session) -> tuple[str, ...]:
    """InternalIP of every node (hostNetwork pods send from it); none when nodes are not
    readable, which only loses the ipBlock matching of hostNetwork pods without a pod IP."""
    try:
        nodes = session.lister.list(NODES, None)
    except _ApiError:
        return ()
    found = []
    for node in nodes:
        for address in (node.get("status") or {}).get("addresses") or []:
            if isinstance(address, dict) and address.get("type") == "InternalIP" \
                    and address.get("address"):
                found.append(str(address["address"]))
    return tuple(found)


def read_cluster(kubeconfig: str | None, context: str | None, namespace: str | None,
                 all_namespaces: bool, progress: bool = False) -> ClusterRead:
    """Read the objects that matter from the live cluster, like `kubectl get -o json`.

    Scope as kubectl: `-A` all namespaces, `-n NS` one, else the context's namespace (or
    `default`). Namespaces, DaemonSets (CNI detection), cluster-wide Cilium policies and the
    admin tiers (ANP, BANP, ClusterNetworkPolicy) are read cluster-wide whatever the scope. Raises ClusterUnreachable when nothing can be read.
    """
    from kubernetes.client import ApiClient

    configuration, default_namespace = client_configuration(kubeconfig, context)
    if getattr(configuration, "retries", None) is None:
        configuration.retries = CONNECT_RETRIES
    scope = None if all_namespaces else (namespace or default_namespace or "default")
    api_client = ApiClient(configuration)
    http = _Http(api_client)
    meter = _Progress(progress)
    result = ClusterRead([], [], None, server=http.server, namespace=scope)
    session = _Session(_Lister(http, meter), result)
    try:
        policies = session.read(NETWORK_POLICIES, scope, "no NetworkPolicy was analysed",
                                severity="error")
        session.keep(policies or [])
        session.namespaces(scope)
        pods = session.read(PODS, scope, "workloads are represented by the pods policies "
                            "select") or []
        running = [p for p in pods
                   if (p.get("status") or {}).get("phase") not in FINISHED_PHASES]
        session.keep(running)
        session.keep(session.read(SERVICES, scope, "DNS is taken from --dns-namespace and "
                                  "--dns-selector") or [])
        cilium_served = session.cilium(scope)
        session.admin_tiers()
        result.cni = session.detect(pods, cilium_served)
        result.node_addresses = _node_addresses(session)
    except _ApiError as err:  # an unexpected answer outside the per-kind reads
        raise ClusterUnreachable(f"{http.server}: {err}") from None
    finally:
        meter.done()
        api_client.close()
    result.notes.append(f"read cluster {http.server} ({_scope(scope)}): "
                        f"{len(result.objects)} object(s)")
    return result


# ---------------------------------------------------------------------------------------------
# Files and cluster together
# ---------------------------------------------------------------------------------------------


def object_key(obj: dict[str, Any]) -> tuple[str, str | None, str] | None:
    """kind, namespace (None for cluster-scoped kinds; `default` when a manifest omits it,
    as kubectl apply would place it) and name."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return None
    kind = str(obj.get("kind") or "")
    namespace = None if kind in CLUSTER_SCOPED_KINDS else str(meta.get("namespace") or
                                                                "default")
    return kind, namespace, str(meta["name"])


def merge_objects(files: Sequence[SourceObject], cluster: Sequence[SourceObject]
                  ) -> tuple[list[SourceObject], list[str]]:
    """Files are the desired state: a cluster object that a file also defines is replaced
    by the file's copy (one note names them). Done before building the inventory, so the
    builder never sees two copies of one object."""
    in_files = {key for key in (object_key(s.obj) for s in files) if key is not None}
    shadowed = [s for s in cluster if object_key(s.obj) in in_files]
    kept = [s for s in cluster if object_key(s.obj) not in in_files]
    notes = []
    if shadowed:
        names = [_describe(s.obj) for s in shadowed]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        notes.append(f"{len(names)} object(s) exist both in the files and in the cluster; the "
                     f"files' copies are analysed (desired state): {shown}")
    return list(files) + kept, notes


def _describe(obj: dict[str, Any]) -> str:
    key = object_key(obj)
    assert key is not None
    kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def effective_cni(setting: str, detection: CniDetection | None) -> CniDetection:
    """The CNI the analysis uses and why: `--cni auto` takes the detected one; an explicit
    setting wins, and the reason says what the cluster looked like."""
    if setting == "auto":
        if detection is None:
            return CniDetection("unknown", "not detected: the cluster's DaemonSets and pods "
                                "could not be read", None)
        return detection
    if detection is None or detection.name == setting:
        enforced = detection.network_policy_enforced if detection else None
        return CniDetection(setting, "set by --cni or .netpol-fix.yaml"
                            + (f" (the cluster agrees: {detection.reason})" if detection else ""),
                            enforced)
    return CniDetection(setting, f"set by --cni or .netpol-fix.yaml; the cluster looks like "
                        f"{detection.name} ({detection.reason})", None)
