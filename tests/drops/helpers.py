"""Hubble jsonpb lines as `hubble observe -o jsonpb` prints them, for the drops tests."""

from __future__ import annotations

import json
from typing import Any


def endpoint(namespace: str | None, pod: str | None, labels: dict[str, str] | None = None,
             identity: int | None = None, reserved: str | None = None,
             namespace_labels: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if identity is not None:
        out["identity"] = identity
    if namespace:
        out["namespace"] = namespace
    rendered = [f"k8s:{k}={v}" for k, v in (labels or {}).items()]
    if namespace:
        rendered += [f"k8s:io.kubernetes.pod.namespace={namespace}",
                     "k8s:io.cilium.k8s.policy.cluster=default"]
    rendered += [f"k8s:io.cilium.k8s.namespace.labels.{k}={v}"
                 for k, v in (namespace_labels or {}).items()]
    if reserved:
        rendered.append(f"reserved:{reserved}")
    if rendered:
        out["labels"] = sorted(rendered)
    if pod:
        out["pod_name"] = pod
    return out


def hubble(src: dict[str, Any], dst: dict[str, Any], port: int | None, protocol: str = "TCP",
           verdict: str = "DROPPED", direction: str | None = "EGRESS",
           reason: str | None = "POLICY_DENIED", time: str = "2026-03-01T10:00:00.000000001Z",
           src_ip: str = "10.0.0.5", dst_ip: str = "10.0.1.9", reply: bool = False,
           syn: bool = True, **extra: Any) -> str:
    flow: dict[str, Any] = {"time": time, "verdict": verdict,
                            "IP": {"source": src_ip, "destination": dst_ip,
                                   "ipVersion": "IPv6" if ":" in src_ip else "IPv4"},
                            "source": src, "destination": dst, "Type": "L3_L4",
                            "node_name": "kind-worker", "is_reply": reply}
    if protocol == "TCP":
        flags = {"SYN": True} if syn else {"ACK": True}
        flow["l4"] = {"TCP": {"source_port": 40000, "destination_port": port, "flags": flags}}
    elif protocol in ("UDP", "SCTP"):
        flow["l4"] = {protocol: {"source_port": 40000, "destination_port": port}}
    elif protocol.startswith("ICMP"):
        flow["l4"] = {protocol: {"type": port or 8}}
    if verdict == "DROPPED" and reason:
        code = {"POLICY_DENIED": 133, "POLICY_DENY": 181}.get(reason, 132)
        flow["drop_reason"] = code
        flow["drop_reason_desc"] = reason
        flow["event_type"] = {"type": 1, "sub_type": code}
    else:
        flow["event_type"] = {"type": 4}
    if direction:
        flow["traffic_direction"] = direction
    flow.update(extra)
    return json.dumps({"flow": flow, "node_name": "kind-worker", "time": time},
                      separators=(",", ":"))
