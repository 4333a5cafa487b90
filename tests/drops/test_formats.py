"""One test per input format: the documented shapes (facts in
shared/notes/observed-drops.md, with their sources) and the real samples of the corpus."""

from __future__ import annotations

import json

import pytest

from netpol_fix.drops.formats import Endpoint, PolicyName, UnknownLine, parse_line
from tests.corpus_path import corpus_path


def test_hubble_jsonpb_wrapped_in_flow_as_cilium_printer_test_prints_it() -> None:
    """cilium hubble/pkg/printer/printer_test.go, case "jsonpb": the flow wrapped in
    "flow", proto field names, `event_type` 1 with `sub_type` 133 (the drop reason)."""
    line = ('{"flow":{"time":"1970-01-01T00:20:34.567800Z","verdict":"DROPPED","IP":'
            '{"source":"1.1.1.1","destination":"2.2.2.2"},"l4":{"TCP":{"source_port":31793,'
            '"destination_port":8080}},"source":{"identity":4},"destination":{"identity":'
            '12345},"Type":"L3_L4","node_name":"k8s1","event_type":{"type":1,"sub_type":133},'
            '"is_reply":false,"Summary":"TCP Flags: SYN"}}')
    flow = parse_line(line)
    assert flow is not None and flow.fmt == "hubble-jsonpb"
    assert (flow.verdict, flow.reason, flow.reason_code) == ("DROPPED", "POLICY_DENIED", 133)
    assert (flow.protocol, flow.port, flow.is_reply) == ("TCP", 8080, False)
    assert flow.source == Endpoint(identity=4, ip="1.1.1.1", reserved="health")
    assert flow.destination.identity == 12345 and flow.destination.reserved is None


def test_hubble_explicit_deny_names_the_denying_policy() -> None:
    """POLICY_DENY (181) with `egress_denied_by` (repeated Policy; revision is a uint64,
    so a string), `workloads` and `cluster_name`: the shape the notes record."""
    line = json.dumps({"flow": {
        "time": "2026-01-01T00:00:00Z", "verdict": "DROPPED", "drop_reason": 181,
        "drop_reason_desc": "POLICY_DENY", "event_type": {"type": 5},
        "policy_match_type": 1, "traffic_direction": "EGRESS",
        "l4": {"TCP": {"source_port": 5000, "destination_port": 80, "flags": {"SYN": True}}},
        "source": {"namespace": "net-lab", "pod_name": "traffic-generator-5d9f7-abcde",
                   "cluster_name": "topgun",
                   "workloads": [{"name": "traffic-generator", "kind": "Deployment"}]},
        "destination": {"namespace": "net-lab", "pod_name": "echo-0"},
        "egress_denied_by": [{"name": "deny-tg-to-echo", "namespace": "net-lab",
                              "labels": ["k8s:io.cilium.k8s.policy.name=deny-tg-to-echo"],
                              "revision": "6", "kind": "CiliumNetworkPolicy"}]}})
    flow = parse_line(line)
    assert flow is not None
    assert (flow.reason, flow.reason_code, flow.direction) == ("POLICY_DENY", 181, "EGRESS")
    assert flow.denied_by == (PolicyName("CiliumNetworkPolicy", "net-lab", "deny-tg-to-echo"),)
    assert flow.source.workloads == (("Deployment", "traffic-generator"),)
    assert flow.syn_only is True and flow.event_type == 5


def test_hubble_legacy_unwrapped_json() -> None:
    """HUBBLE_COMPAT=legacy-json-output (CLI v0.10 and older): the flow object itself."""
    line = ('{"time":"2021-01-01T00:00:00.1Z","verdict":"DROPPED","drop_reason_desc":'
            '"POLICY_DENIED","IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":'
            '{"UDP":{"source_port":1234,"destination_port":53}},"source":{"namespace":"a",'
            '"pod_name":"web-1"},"destination":{"namespace":"kube-system","pod_name":'
            '"coredns-x"},"traffic_direction":"EGRESS"}')
    flow = parse_line(line)
    assert flow is not None and flow.fmt == "hubble-legacy-json"
    assert (flow.protocol, flow.port, flow.direction) == ("UDP", 53, "EGRESS")
    assert flow.source.pod == "web-1" and flow.destination.namespace == "kube-system"


def test_camel_case_json_as_grpcurl_prints_it() -> None:
    """protojson with default options (grpcurl) writes lowerCamelCase: `sourcePort`,
    `destinationPort`, `podName`, `dropReasonDesc`, `trafficDirection`, `isReply`; enums
    may also be numbers (verdict 2 = DROPPED, direction 1 = INGRESS)."""
    line = json.dumps({"flow": {
        "time": "2026-01-01T00:00:00Z", "verdict": 2, "dropReasonDesc": "POLICY_DENIED",
        "trafficDirection": 1, "isReply": False,
        "l4": {"TCP": {"sourcePort": 40000, "destinationPort": 5432}},
        "source": {"namespace": "app", "podName": "api-7d8f9c6b5-x2x2x",
                   "labels": ["k8s:app=api"]},
        "destination": {"namespace": "db", "podName": "pg-0", "labels": ["k8s:app=pg"]}}})
    flow = parse_line(line)
    assert flow is not None
    assert (flow.verdict, flow.direction, flow.port, flow.is_reply) == (
        "DROPPED", "INGRESS", 5432, False)
    assert flow.source.pod == "api-7d8f9c6b5-x2x2x"
    assert flow.reason_code == 133


def test_hubble_exporter_file_from_the_cilium_docs() -> None:
    """The real exporter lines of cilium's export.rst (fieldmask: no labels, no
    event_type): an INVALID_SOURCE_IP ICMPv6 drop and the xwing -> deathstar drop."""
    lines = corpus_path("cilium/derived/doc-flows/export.jsonl").read_text().splitlines()
    first, second = (parse_line(line) for line in lines)
    assert first is not None and second is not None
    assert (first.reason, first.protocol, first.icmp_type) == ("INVALID_SOURCE_IP",
                                                               "ICMPv6", 133)
    assert first.source == Endpoint(ip="fe80::64d8:8aff:fe72:fc14")
    assert (second.reason, second.protocol, second.port, second.syn_only) == (
        "POLICY_DENIED", "TCP", 80, True)
    assert second.source.pod == "xwing"
    assert second.destination.pod == "deathstar-7848d6c4d5-th9v2"
    assert second.direction is None and second.time == "2023-08-21T12:12:18.510175415Z"


@pytest.mark.parametrize("name", ["basic-sample-10-flows.json", "basic-sample-5-dns-flows.json",
                                  "basic-sample-400-udp-flows.json",
                                  "basic-sample-400-icmpv4-flows.json"])
def test_every_line_of_the_hubble_otel_samples_is_a_flow(name: str) -> None:
    """Real captured flows (kind and GKE clusters): every line parses, none is a drop."""
    path = corpus_path(f"hubble-otel/testdata/{name}")
    flows = [parse_line(line) for line in path.read_text().splitlines()]
    assert flows and all(f is not None for f in flows)
    assert not any(f.dropped for f in flows if f is not None)


def test_hubble_otel_labels_and_policy_verdict_events() -> None:
    """basic-sample-400-udp-flows.json holds 30 policy-verdict events (type 5), REDIRECTED,
    EGRESS, from bookinfo to kube-system/coredns (the notes' count)."""
    path = corpus_path("hubble-otel/testdata/basic-sample-400-udp-flows.json")
    flows = [parse_line(line) for line in path.read_text().splitlines()]
    verdicts = [f for f in flows if f is not None and f.event_type == 5]
    assert len(verdicts) == 30
    assert {(f.verdict, f.direction, f.destination.namespace) for f in verdicts} == {
        ("REDIRECTED", "EGRESS", "kube-system")}
    assert "k8s:io.kubernetes.pod.namespace=bookinfo" in verdicts[0].source.labels


def test_reply_is_read_from_the_deprecated_field_too() -> None:
    """The L7 DNS samples carry the deprecated `"reply": true`; `is_reply` wins when both
    are there, `reply` is used when it is the only one."""
    flow = parse_line('{"flow":{"verdict":"FORWARDED","reply":true,"l4":{"UDP":'
                      '{"source_port":53,"destination_port":4000}}}}')
    assert flow is not None and flow.is_reply is True


def test_cilium_monitor_text_drop_lines() -> None:
    """pkg/monitor/datapath_drop.go DumpInfo: the older format (no ifindex/file) and the
    current one with ", , identity"; identities as numbers or reserved names."""
    old = parse_line("xx drop (Policy denied) flow 0x6d7b6dd0 to endpoint 1657, identity "
                     "6->51566: 172.16.9.243:47278 -> 172.16.8.21:9093 tcp SYN")
    assert old is not None and old.fmt == "cilium-monitor-text"
    assert (old.reason, old.protocol, old.port, old.syn_only) == ("POLICY_DENIED", "TCP",
                                                                   9093, True)
    assert old.source == Endpoint(identity=6, ip="172.16.9.243", reserved="remote-node")
    assert old.destination == Endpoint(identity=51566, ip="172.16.8.21")
    new = parse_line("xx drop (Policy denied) flow 0xfddd76f6 to endpoint 0, ifindex 29, "
                     "file bpf_lxc.c:1274, , identity 48447->world: 192.168.0.149:45830 -> "
                     "93.184.215.14:80 tcp SYN")
    assert new is not None
    assert new.destination == Endpoint(ip="93.184.215.14", reserved="world")
    assert new.source.identity == 48447 and new.port == 80
    deny = parse_line("xx drop (Policy denied by denylist) flow 0x1 to endpoint 9, identity "
                      "100->200: [fd00::1]:555 -> [fd00::2]:8443 tcp SYN")
    assert deny is not None and deny.reason == "POLICY_DENY"
    assert (deny.source.ip, deny.destination.ip, deny.port) == ("fd00::1", "fd00::2", 8443)


def test_cilium_monitor_preamble_and_other_events_are_no_flows() -> None:
    for line in ("Listening for events on 8 CPUs with 64x4096 of shared memory",
                 "Press Ctrl-C to quit", "-" * 78,
                 "-> endpoint 1657 flow 0x0 , identity 6->51566 state new ifindex 0"):
        assert parse_line(line) is None


def test_cilium_monitor_json() -> None:
    """`cilium-dbg monitor --type drop -j`: DropNotifyVerbose with the DissectSummary
    (pkg/monitor/dissect.go: l3/l4 src/dst strings, a layer string per protocol)."""
    line = json.dumps({
        "cpu": "CPU 01:", "type": "drop", "mark": "0x0", "reason": "Policy denied",
        "source": 1657, "bytes": 74, "srcLabel": 2, "dstLabel": 51566, "dstID": 1657,
        "Line": 1274, "File": 1, "ExtError": 0, "Ifindex": 29,
        "summary": {"ipv4": "IPv4 {...}", "tcp": "TCP {... SYN=true ACK=false ...}",
                    "l3": {"src": "203.0.113.9", "dst": "10.0.1.7"},
                    "l4": {"src": "51000", "dst": "443"}}})
    flow = parse_line(line)
    assert flow is not None and flow.fmt == "cilium-monitor-json"
    assert (flow.reason, flow.protocol, flow.port, flow.syn_only) == (
        "POLICY_DENIED", "TCP", 443, True)
    assert flow.source == Endpoint(identity=2, ip="203.0.113.9", reserved="world")
    assert parse_line('{"type":"trace","summary":{}}') is None


def test_calico_enterprise_flow_log_line() -> None:
    """felix/collector/flowlog/testdata/flows.log shape; policies `index|tier|name|action`
    (and a rule index in newer versions); name `ns/knp.default.X` is a Kubernetes
    NetworkPolicy (felix/calc/policy_lookup_cache.go). reporter src = egress side."""
    line = json.dumps({
        "start_time": 1577834657, "end_time": 1577834965, "source_name": "-",
        "source_name_aggr": "web-7c9f8d6b5-*", "source_namespace": "shop",
        "source_type": "wep", "source_labels": {"labels": ["app=web"]},
        "dest_name": "-", "dest_name_aggr": "api-6d8f7c9b4-*", "dest_namespace": "shop",
        "dest_type": "wep", "dest_labels": {"labels": ["app=api"]}, "dest_port": 8080,
        "proto": "tcp", "action": "deny", "reporter": "src", "num_flows": 3,
        "policies": {"all_policies": ["0|default|shop/knp.default.default-deny|deny|-1"]}})
    flow = parse_line(line)
    assert flow is not None and flow.fmt == "calico-flow-log"
    assert (flow.verdict, flow.direction, flow.protocol, flow.port, flow.count) == (
        "DROPPED", "EGRESS", "TCP", 8080, 3)
    assert flow.time == "2019-12-31T23:24:17Z"
    assert flow.source.aggregated_name == "web-7c9f8d6b5-*"
    assert flow.denied_by == (PolicyName("NetworkPolicy", "shop", "default-deny", "deny"),)
    allow = parse_line(json.dumps({
        "start_time": 1577834657, "source_namespace": "a", "dest_namespace": "kube-system",
        "dest_port": 53, "dest_type": "wep", "proto": "udp", "action": "allow",
        "reporter": "dst", "policies": {
            "all_policies": ["0|__PROFILE__|__PROFILE__.kns.kube-system|allow"]}}))
    assert allow is not None and allow.verdict == "FORWARDED" and allow.direction == "INGRESS"


def test_goldmane_flow_json_with_proto_names_and_camel_case() -> None:
    """goldmane/proto/api.proto: Flow{Key FlowKey, start_time, source_labels,
    num_connections_started}, FlowKey{source_name..., dest_port, proto, reporter, action,
    policies PolicyTrace{enforced_policies[PolicyHit]}}; a FlowResult wraps it in "flow"."""
    key = {"source_name": "client-5f8d-*", "source_namespace": "app",
           "source_type": "WorkloadEndpoint", "dest_name": "server-6c7d-*",
           "dest_namespace": "app", "dest_type": "WorkloadEndpoint", "dest_port": 9000,
           "proto": "tcp", "reporter": "Dst", "action": "Deny",
           "policies": {"enforced_policies": [
               {"kind": "GlobalNetworkPolicy", "name": "deny-9000", "tier": "security",
                "action": "Deny", "policy_index": 0, "rule_index": 0}]}}
    flow = parse_line(json.dumps({"id": 7, "flow": {
        "Key": key, "start_time": 1735689600, "end_time": 1735689615,
        "source_labels": ["app=client"], "dest_labels": ["app=server"],
        "num_connections_started": 4}}))
    assert flow is not None and flow.fmt == "calico-goldmane"
    assert (flow.verdict, flow.direction, flow.port, flow.count) == ("DROPPED", "INGRESS",
                                                                    9000, 4)
    assert flow.denied_by == (PolicyName("GlobalNetworkPolicy", None, "deny-9000", "deny"),)
    assert flow.destination.labels == ("app=server",)
    camel = parse_line(json.dumps({"key": {
        "sourceName": "client-5f8d-*", "sourceNamespace": "app", "destName": "server-6c7d-*",
        "destNamespace": "app", "destPort": 9000, "proto": "tcp", "reporter": 2,
        "action": 2}, "startTime": 1735689600}))
    assert camel is not None and camel.verdict == "DROPPED" and camel.port == 9000
    assert camel.destination.aggregated_name == "server-6c7d-*"


def test_whisker_flat_flow() -> None:
    """Whisker's flows as flat JSON (the FlowKey fields at the top, `policies.enforced`)."""
    flow = parse_line(json.dumps({
        "start_time": "2025-06-01T10:00:00Z", "action": "Deny", "source_namespace": "app",
        "source_name": "client-5f8d-*", "dest_namespace": "app", "dest_name": "server-*",
        "dest_port": 9000, "protocol": "tcp", "reporter": "Src",
        "policies": {"enforced": [{"kind": "NetworkPolicy", "namespace": "app",
                                   "name": "default-deny", "action": "Deny"}]}}))
    assert flow is not None and flow.time == "2025-06-01T10:00:00Z"
    assert flow.direction == "EGRESS" and flow.denied_by[0].name == "default-deny"


@pytest.mark.parametrize(("line", "kind"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON that is not an object"),
    ('{"hello": "world"}', "JSON object of no known flow format"),
    (("default/xwing:42818 <> default/deathstar-c74d84667-cx5kp:80 Policy denied DROPPED "
     "(TCP Flags: SYN)"), "Hubble compact text (use `hubble observe -o jsonpb`)"),
    ("some random text", "text that is no cilium monitor drop line"),
    ("xx drop (Policy denied) flow 0x1 to endpoint 2", ("cilium monitor drop line without "
                                                       "identities and addresses")),
])
def test_unknown_lines_raise_with_a_kind(line: str, kind: str) -> None:
    with pytest.raises(UnknownLine) as err:
        parse_line(line)
    assert err.value.kind == kind
