"""One line of a flow log -> one ObservedFlow, whatever tool wrote it.

Detected per line, so files that mix tools (or a stream that switches) still read:

* Hubble `-o json`/`-o jsonpb` (v0.11+) and exporter files: a GetFlowsResponse, the flow
  wrapped in `"flow"`, proto field names (`drop_reason_desc`, `source_port`, `pod_name`);
  the legacy unwrapped JSON (`HUBBLE_COMPAT=legacy-json-output`, CLI v0.10 and older); and
  lowerCamelCase JSON (grpcurl, protojson defaults: `dropReasonDesc`, `destinationPort`).
  Enums may be names or numbers; uint64 fields are strings; zero values are left out.
* `cilium monitor --type drop` text lines (`xx drop (Policy denied) flow 0x... identity
  A->B: SRC:PORT -> DST:PORT tcp SYN`) and its `-j` JSON (`DropNotifyVerbose`).
* Calico flow logs: Enterprise-style JSON lines (`source_namespace`, `dest_port`, `action`,
  `reporter`, `policies.all_policies` strings `index|tier|name|action[|rule]`), and
  Goldmane/Whisker flows as JSON (`Key`/`key` with `source_name`..., or flat).

A line that is not a flow of a known format raises UnknownLine with a kind, so the reader
can report each kind once with its first line number; events that are flows of no
interest here (Hubble node status, monitor trace lines) return None.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any

VERDICTS = {0: "VERDICT_UNKNOWN", 1: "FORWARDED", 2: "DROPPED", 3: "ERROR", 4: "AUDIT",
            5: "REDIRECTED", 6: "TRACED", 7: "TRANSLATED"}
DIRECTIONS = {0: None, 1: "INGRESS", 2: "EGRESS"}
# cilium api/v1/flow/flow.proto DropReason (the values the notes name; others by number)
DROP_REASONS = {130: "INVALID_SOURCE_MAC", 131: "INVALID_DESTINATION_MAC",
                132: "INVALID_SOURCE_IP", 133: "POLICY_DENIED", 181: "POLICY_DENY",
                189: "AUTH_REQUIRED"}
DROP_CODES = {name: code for code, name in DROP_REASONS.items()}
# cilium pkg/monitor/api/drop.go texts
MONITOR_REASONS = {"Policy denied": "POLICY_DENIED", "Policy denied by denylist": "POLICY_DENY",
                   "Invalid source ip": "INVALID_SOURCE_IP"}
# cilium pkg/identity/numericidentity.go
RESERVED_IDENTITIES = {1: "host", 2: "world", 3: "unmanaged", 4: "health", 5: "init",
                       6: "remote-node", 7: "kube-apiserver", 8: "ingress", 9: "world-ipv4",
                       10: "world-ipv6"}
RESERVED_NAMES = frozenset(RESERVED_IDENTITIES.values()) | {"unknown"}


class UnknownLine(ValueError):
    """A line that is no flow of a known format; `kind` groups the reports."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PolicyName:
    """A policy the dataplane named (Hubble `*_denied_by`, Calico policy hits)."""

    kind: str
    namespace: str | None
    name: str
    action: str = "deny"

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a flow as the tool saw it; any field may be missing."""

    namespace: str | None = None
    pod: str | None = None
    workloads: tuple[tuple[str, str], ...] = ()
    """(kind, name) pairs (Hubble 1.15+ `workloads`)."""
    labels: tuple[str, ...] = ()
    """As printed: `k8s:app=web`, `reserved:world`, or Calico's `app=web`."""
    identity: int | None = None
    ip: str | None = None
    reserved: str | None = None
    """Cilium reserved identity name (world, host, remote-node, ...) or Calico's endpoint
    type for what is no pod (`hep`, `net`, `ns`)."""
    aggregated_name: str | None = None
    """Calico's name of a set of pods sharing a generateName (`web-7c9f8d-*`)."""


@dataclass(slots=True)
class ObservedFlow:
    time: str | None
    verdict: str
    """FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR... (Calico allow/deny as FORWARDED/DROPPED)."""
    reason: str | None
    reason_code: int | None
    direction: str | None
    protocol: str | None
    """TCP, UDP, SCTP, ICMPv4, ICMPv6, or None."""
    port: int | None
    icmp_type: int | None
    is_reply: bool | None
    source: Endpoint
    destination: Endpoint
    denied_by: tuple[PolicyName, ...] = ()
    fmt: str = ""
    count: int = 1
    """Events this line stands for (Calico lines aggregate flows)."""
    syn_only: bool | None = None
    """TCP: SYN without ACK (a new connection); None when the flags are unknown."""
    l7: bool = False
    event_type: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> bool:
        return self.verdict in ("DROPPED", "AUDIT")


def parse_line(text: str) -> ObservedFlow | None:
    """The flow on one line, None for a known non-flow event; raises UnknownLine."""
    first = text[:1]
    stripped = text if first in ("{", "[") else text.strip()
    if not stripped:
        return None
    if stripped[0] in "{[":
        try:
            obj = json.loads(stripped)
        except ValueError as err:
            raise UnknownLine("not valid JSON", str(err)) from None
        if not isinstance(obj, dict):
            raise UnknownLine("JSON that is not an object")
        return parse_object(obj)
    return _parse_text(stripped)


def parse_object(obj: dict[str, Any]) -> ObservedFlow | None:
    flow = obj.get("flow")
    if isinstance(flow, dict):
        if "Key" in flow or "key" in flow:
            return _goldmane(flow)
        return _hubble(flow, "hubble-jsonpb")
    if "node_status" in obj or "nodeStatus" in obj or "lost_events" in obj \
            or "lostEvents" in obj:
        return None  # GetFlowsResponse events that are not flows
    if "verdict" in obj and ("IP" in obj or "l4" in obj or "source" in obj
                             or "event_type" in obj or "eventType" in obj):
        return _hubble(obj, "hubble-legacy-json")
    kind = obj.get("type")
    if isinstance(kind, str) and ("summary" in obj or "srcLabel" in obj):
        return _monitor_json(obj) if kind == "drop" else None
    if "Key" in obj or "key" in obj:
        return _goldmane(obj)
    if "action" in obj and ("source_namespace" in obj or "dest_namespace" in obj
                            or "sourceNamespace" in obj or "destNamespace" in obj):
        return _calico_flat(obj)
    raise UnknownLine("JSON object of no known flow format",
                      "keys: " + ", ".join(sorted(obj)[:8]))


# ----- Hubble ------------------------------------------------------------------------------
def _g(d: dict[str, Any], snake: str, camel: str) -> Any:
    value = d.get(snake)
    return d.get(camel) if value is None else value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


PASSED = frozenset({"FORWARDED", "REDIRECTED", "TRACED", "TRANSLATED"})


def _hubble(f: dict[str, Any], fmt: str) -> ObservedFlow:
    """(Called once per line, and most lines are forwarded traffic: the drop fields are
    read only for other verdicts, and each field is looked up as written, then in the
    other casing.)"""
    get = f.get
    verdict = get("verdict")
    if type(verdict) is not str:
        verdict = VERDICTS.get(verdict, str(verdict)) if type(verdict) is int \
            else "VERDICT_UNKNOWN"
    event = get("event_type") or get("eventType")
    event_type = event.get("type") if type(event) is dict else None
    if event_type is not None and type(event_type) is not int:
        event_type = _int(event_type)
    reason: Any = None
    code: int | None = None
    denied: list[PolicyName] = []
    if verdict not in PASSED:
        reason = _g(f, "drop_reason_desc", "dropReasonDesc")
        code = _int(_g(f, "drop_reason", "dropReason"))
        if code is None and event_type == 1 and type(event) is dict:
            code = _int(_g(event, "sub_type", "subType"))
        if isinstance(reason, int):
            code, reason = reason, DROP_REASONS.get(reason)
        if reason is None and code:
            reason = DROP_REASONS.get(code, f"drop reason {code}")
        if code is None and isinstance(reason, str):
            code = DROP_CODES.get(reason)
        for key in ("egress_denied_by", "ingress_denied_by", "egressDeniedBy",
                    "ingressDeniedBy"):
            for policy in get(key) or ():
                if isinstance(policy, dict) and policy.get("name"):
                    denied.append(PolicyName(str(policy.get("kind") or "CiliumNetworkPolicy"),
                                             policy.get("namespace") or None,
                                             str(policy["name"])))
    direction = get("traffic_direction") or get("trafficDirection")
    if type(direction) is not str:
        direction = DIRECTIONS.get(direction) if type(direction) is int else None
    elif direction == "TRAFFIC_DIRECTION_UNKNOWN":
        direction = None
    protocol = port = icmp = syn = None
    l4 = get("l4")
    if type(l4) is dict:
        for name in ("TCP", "UDP", "SCTP"):
            layer = l4.get(name)
            if type(layer) is dict:
                protocol = name
                port = layer.get("destination_port") or layer.get("destinationPort")
                if port is not None and type(port) is not int:
                    port = _int(port)
                if name == "TCP":
                    flags = layer.get("flags")
                    if type(flags) is dict:
                        syn = bool(flags.get("SYN")) and not flags.get("ACK")
                break
        else:
            for name in ("ICMPv4", "ICMPv6"):
                layer = l4.get(name)
                if type(layer) is dict:
                    protocol, icmp = name, _int(layer.get("type")) or 0
                    break
    reply = get("is_reply")
    if reply is None:
        reply = get("isReply")
        if reply is None:
            reply = get("reply")
    ip = get("IP")
    if type(ip) is not dict:
        ip = {}
    stamp = get("time")
    kind = get("Type")
    return ObservedFlow(
        time=stamp if type(stamp) is str else None,
        verdict=verdict, reason=reason if isinstance(reason, str) else None,
        reason_code=code, direction=direction,
        protocol=protocol, port=port, icmp_type=icmp,
        is_reply=reply if type(reply) is bool else None,
        source=_hubble_endpoint(get("source"), ip.get("source")),
        destination=_hubble_endpoint(get("destination"), ip.get("destination")),
        denied_by=tuple(denied), fmt=fmt, syn_only=syn,
        l7=kind == "L7" or (kind is None and get("type") == "L7"), event_type=event_type)


def _hubble_endpoint(raw: Any, address: Any) -> Endpoint:
    """(Called twice per line: kept lean. Labels are taken as they are; a list holding
    anything but strings, which Hubble never writes, is filtered.)"""
    ip = address if type(address) is str and address else None
    if type(raw) is not dict:
        return Endpoint(ip=ip)
    labels = raw.get("labels")
    labels_t: tuple[Any, ...] = tuple(labels) if type(labels) is list else ()
    try:
        hash(labels_t)  # strings (what Hubble writes) hash; a dict in the list would not
    except TypeError:
        labels_t = tuple(x for x in labels_t if type(x) is str)
    identity = raw.get("identity")
    if type(identity) is not int:
        identity = _int(identity)
    namespace = raw.get("namespace") or None
    reserved = None
    if namespace is None:  # only what is no pod carries reserved:... labels
        for label in labels_t:
            if type(label) is str and label.startswith("reserved:"):
                reserved = label[9:]
                break
    if reserved is None and identity is not None:
        reserved = RESERVED_IDENTITIES.get(identity)
    raw_workloads = raw.get("workloads")
    workloads = tuple((str(w.get("kind") or ""), str(w["name"])) for w in raw_workloads
                      if isinstance(w, dict) and w.get("name")) \
        if type(raw_workloads) is list else ()
    pod = raw.get("pod_name") or raw.get("podName") or None
    return Endpoint(namespace=namespace if type(namespace) is str else None,
                    pod=pod if type(pod) is str else None, workloads=workloads,
                    labels=labels_t, identity=identity, ip=ip, reserved=reserved)


# ----- cilium monitor ---------------------------------------------------------------------
_MONITOR_DROP = re.compile(
    r"^xx drop \((?P<reason>[^)]*)\).*?identity (?P<src>[^\s>]+?)->(?P<dst>[^\s:]+): "
    r"(?P<conn>.*)$")
_HOST_PORT = re.compile(r"^\[?(?P<ip>[0-9A-Fa-f:.]+?)\]?:(?P<port>\d+)$")
_MONITOR_OTHER = re.compile(
    r"^(-> |>> |<- |Policy verdict log|Listening for events|Press Ctrl-C|-{8,}|level=|"
    r"time=|Ethernet|IPv4|IPv6|TCP|UDP|ICMP|SCTP|CPU \d+: MARK .* (FROM|TO) )")


def _parse_text(line: str) -> ObservedFlow | None:
    if line.startswith("xx drop"):
        return _monitor_text(line)
    if line.startswith("CPU ") and " DROP:" in line:
        raise UnknownLine("cilium monitor verbose text (read `cilium monitor --type drop` "
                          "without -v, or with -j)")
    if _MONITOR_OTHER.match(line):
        return None
    if " <> " in line or " -> " in line and ("DROPPED" in line or "FORWARDED" in line):
        raise UnknownLine("Hubble compact text (use `hubble observe -o jsonpb`)")
    raise UnknownLine("text that is no cilium monitor drop line")


def _monitor_identity(text: str) -> tuple[int | None, str | None]:
    if text.isdigit():
        number = int(text)
        return number, RESERVED_IDENTITIES.get(number)
    return None, text if text in RESERVED_NAMES else None


def _monitor_text(line: str) -> ObservedFlow:
    match = _MONITOR_DROP.match(line)
    if match is None:
        raise UnknownLine("cilium monitor drop line without identities and addresses")
    reason_text = match["reason"]
    reason = MONITOR_REASONS.get(reason_text, reason_text)
    parts = match["conn"].split()
    # "SRC:PORT -> DST:PORT tcp SYN" or "SRC -> DST icmp EchoRequest"
    if len(parts) < 3 or parts[1] != "->":
        raise UnknownLine("cilium monitor drop line without addresses")
    src, dst = _HOST_PORT.match(parts[0]), _HOST_PORT.match(parts[2])
    proto = parts[3].upper() if len(parts) > 3 else None
    port = int(dst["port"]) if dst else None
    if proto in ("ICMP", "ICMPV4"):
        proto = "ICMPv4"
    elif proto == "ICMPV6":
        proto = "ICMPv6"
    syn = None
    if proto == "TCP":
        flags = {f.strip(",") for f in parts[4:]}
        syn = "SYN" in flags and "ACK" not in flags
    src_id, src_res = _monitor_identity(match["src"])
    dst_id, dst_res = _monitor_identity(match["dst"])
    return ObservedFlow(
        time=None, verdict="DROPPED", reason=reason, reason_code=DROP_CODES.get(reason),
        direction=None, protocol=proto, port=port, icmp_type=None, is_reply=None,
        source=Endpoint(identity=src_id, reserved=src_res,
                        ip=src["ip"] if src else parts[0]),
        destination=Endpoint(identity=dst_id, reserved=dst_res,
                             ip=dst["ip"] if dst else parts[2]),
        fmt="cilium-monitor-text", syn_only=syn)


def _monitor_json(obj: dict[str, Any]) -> ObservedFlow:
    summary = _dict(obj.get("summary"))
    l3, l4 = _dict(summary.get("l3")), _dict(summary.get("l4"))
    protocol = None
    for key, name in (("tcp", "TCP"), ("udp", "UDP"), ("sctp", "SCTP"), ("icmpv4", "ICMPv4"),
                      ("icmpv6", "ICMPv6")):
        if summary.get(key):
            protocol = name
            break
    reason_text = str(obj.get("reason") or "")
    reason = MONITOR_REASONS.get(reason_text, reason_text or None)
    syn = None
    if protocol == "TCP":
        tcp = str(summary.get("tcp"))
        syn = "SYN=true" in tcp and "ACK=true" not in tcp
    src_id, dst_id = _int(obj.get("srcLabel")), _int(obj.get("dstLabel"))
    return ObservedFlow(
        time=None, verdict="DROPPED", reason=reason,
        reason_code=DROP_CODES.get(reason) if reason else None, direction=None,
        protocol=protocol, port=_int(l4.get("dst")), icmp_type=None, is_reply=None,
        source=Endpoint(identity=src_id, reserved=RESERVED_IDENTITIES.get(src_id or 0),
                        ip=l3.get("src") or None),
        destination=Endpoint(identity=dst_id, reserved=RESERVED_IDENTITIES.get(dst_id or 0),
                             ip=l3.get("dst") or None),
        fmt="cilium-monitor-json", syn_only=syn)


# ----- Calico -----------------------------------------------------------------------------
_CALICO_TYPES = {"wep": None, "WorkloadEndpoint": None, "1": None,
                 "hep": "hep", "HostEndpoint": "hep", "2": "hep",
                 "ns": "ns", "NetworkSet": "ns", "3": "ns",
                 "net": "net", "Network": "net", "4": "net"}
_CALICO_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "icmp": "ICMPv4",
                     "icmp6": "ICMPv6", "icmpv6": "ICMPv6", "6": "TCP", "17": "UDP",
                     "132": "SCTP", "1": "ICMPv4", "58": "ICMPv6"}


def _epoch(value: Any) -> str | None:
    number = _int(value)
    if number is None:
        return value if isinstance(value, str) and value else None
    moment = datetime.datetime.fromtimestamp(number, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _calico_labels(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, dict):
        raw = raw.get("labels")
        if isinstance(raw, dict):
            return tuple(f"{k}={v}" for k, v in raw.items())
    if isinstance(raw, list):
        return tuple(x for x in raw if isinstance(x, str))
    return ()


def _calico_endpoint(get: Any, side: str, ip: Any) -> Endpoint:
    kind = _CALICO_TYPES.get(str(get(f"{side}_type") or "wep"))
    name = get(f"{side}_name")
    aggregated = get(f"{side}_name_aggr")
    namespace = get(f"{side}_namespace")
    if namespace in ("-", ""):
        namespace = None
    pod = name if isinstance(name, str) and name not in ("-", "") else None
    if isinstance(pod, str) and pod.endswith("*"):
        aggregated, pod = pod, None
    return Endpoint(namespace=namespace if kind is None else None, pod=pod if kind is None else None,
                    labels=_calico_labels(get(f"{side}_labels")),
                    ip=ip if isinstance(ip, str) and ip not in ("", "-") else None,
                    reserved=kind,
                    aggregated_name=aggregated if isinstance(aggregated, str) else None)


def _calico_action(value: Any) -> str:
    text = str(value).lower()
    return {"allow": "FORWARDED", "1": "FORWARDED", "deny": "DROPPED", "2": "DROPPED",
            "pass": "FORWARDED", "3": "FORWARDED"}.get(text, text.upper())


def _policy_string(text: str) -> PolicyName | None:
    """`index|tier|name|action[|rule]`; name `ns/knp.default.X` is a Kubernetes
    NetworkPolicy, `ns/TIER.X` a Calico NetworkPolicy, `TIER.X` a GlobalNetworkPolicy,
    `__PROFILE__...` a profile (felix/calc/policy_lookup_cache.go)."""
    parts = text.split("|")
    if len(parts) < 4:
        return None
    tier, name, action = parts[1], parts[2], parts[3]
    namespace, _, bare = name.rpartition("/")
    if bare.startswith("knp.default."):
        return PolicyName("NetworkPolicy", namespace or None, bare[len("knp.default."):], action)
    if tier == "__PROFILE__":
        return PolicyName("Profile", None, bare, action)
    if bare.startswith(f"{tier}."):
        bare = bare[len(tier) + 1:]
    kind = "CalicoNetworkPolicy" if namespace else "GlobalNetworkPolicy"
    return PolicyName(kind, namespace or None, bare, action)


def _policy_hit(hit: dict[str, Any]) -> PolicyName | None:
    name = hit.get("name")
    if not isinstance(name, str) or not name:
        return None
    kind = str(hit.get("kind") or "")
    action = str(hit.get("action") or "").lower()
    return PolicyName(kind or "CalicoNetworkPolicy", hit.get("namespace") or None, name,
                      {"2": "deny", "1": "allow", "3": "pass"}.get(action, action))


def _calico_policies(raw: Any) -> tuple[PolicyName, ...]:
    """Enforced policies that denied (pending/staged ones do not act)."""
    found: list[PolicyName] = []
    if isinstance(raw, dict):
        for key in ("all_policies", "enforced_policies", "enforcedPolicies", "enforced"):
            for item in raw.get(key) or ():
                policy = _policy_string(item) if isinstance(item, str) else (
                    _policy_hit(item) if isinstance(item, dict) else None)
                if policy is not None and policy.action == "deny":
                    found.append(policy)
    return tuple(found)


def _calico_flow(get: Any, fmt: str, start: Any, count: Any) -> ObservedFlow:
    proto = _CALICO_PROTOCOLS.get(str(get("proto") or get("protocol") or "").lower())
    reporter = str(get("reporter") or "").lower()
    direction = {"src": "EGRESS", "1": "EGRESS", "dst": "INGRESS", "2": "INGRESS"}.get(reporter)
    verdict = _calico_action(get("action"))
    port = _int(get("dest_port"))
    number = _int(count)
    return ObservedFlow(
        time=_epoch(start), verdict=verdict,
        reason="CALICO_DENY" if verdict == "DROPPED" else None, reason_code=None,
        direction=direction, protocol=proto, port=port if proto not in ("ICMPv4", "ICMPv6")
        else None, icmp_type=None, is_reply=False,
        source=_calico_endpoint(get, "source", get("source_ip")),
        destination=_calico_endpoint(get, "dest", get("dest_ip")),
        denied_by=_calico_policies(get("policies")), fmt=fmt,
        count=number if number and number > 0 else 1)


def _getter(*dicts: dict[str, Any]) -> Any:
    """Look a snake_case key up in each dict, also as lowerCamelCase."""
    def get(key: str) -> Any:
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        for d in dicts:
            for k in (key, camel):
                if k in d:
                    return d[k]
        return None
    return get


def _calico_flat(obj: dict[str, Any]) -> ObservedFlow:
    get = _getter(obj)
    count = get("num_flows_started") or get("num_flows") or get("num_connections_started")
    return _calico_flow(get, "calico-flow-log", get("start_time"), count)


def _goldmane(obj: dict[str, Any]) -> ObservedFlow:
    key = obj.get("Key") if isinstance(obj.get("Key"), dict) else obj.get("key")
    if not isinstance(key, dict):
        raise UnknownLine("Goldmane flow without a Key")
    get = _getter(key, obj)
    return _calico_flow(get, "calico-goldmane", get("start_time"),
                        get("num_connections_started"))
