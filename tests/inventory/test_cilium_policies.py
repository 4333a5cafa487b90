"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy parsing and validation: what the
CRD or the agent rejects is an error with file:line (the policy is left out of the engine,
the raw object stays for the Cilium rules)."""

from __future__ import annotations

from pathlib import Path

from netpol_fix.inventory.load import load_inventory
from tests.corpus_path import corpus_path

CCNP = """\
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: sample
spec:
  endpointSelector: {}
  nodeSelector: {}
  ingress:
  - fromEntities: [world]
"""


def load(tmp_path: Path, text: str) -> tuple[list[str], int]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    inventory = load_inventory([str(path)])
    return [f"{e.severity}:{e.line}: {e.message}" for e in inventory.errors], \
        len(inventory.cilium)


def test_endpoint_and_node_selector_together_is_an_error(tmp_path: Path) -> None:
    """rule.go: endpointSelector and nodeSelector are mutually exclusive."""
    errors, parsed = load(tmp_path, CCNP)
    assert parsed == 0 and errors[0].startswith("error:7: ")
    assert "mutually exclusive" in errors[0]


def test_node_selector_alone_is_a_host_policy(tmp_path: Path) -> None:
    errors, parsed = load(tmp_path, CCNP.replace("  endpointSelector: {}\n", ""))
    assert parsed == 1 and errors[0].startswith("warning:6: ") and "host firewall" in errors[0]


def test_unknown_entity_and_bad_port_are_errors(tmp_path: Path) -> None:
    """entity.go: the entities are an enum; a port is 0-65535 and endPort not below it."""
    errors, parsed = load(tmp_path, CCNP.replace("  nodeSelector: {}\n", "").replace(
        "[world]", "[internet]"))
    assert parsed == 0 and "unknown entity 'internet'" in errors[0]
    assert errors[0].startswith("error:8: ")
    bad_port = CCNP.replace("  nodeSelector: {}\n", "").replace(
        "fromEntities: [world]", "toPorts: [{ports: [{port: '80', endPort: 70}]}]")
    errors, parsed = load(tmp_path, bad_port)
    assert parsed == 0 and "endPort 70 must be between port 80" in errors[0]


def test_every_corpus_policy_is_read() -> None:
    """Cilium's examples and connectivity tests: every policy that is not a Go template
    or a test placeholder (NODE_WITHOUT_CILIUM_IP) parses."""
    parsed = refused = 0
    for path in sorted(corpus_path("cilium").rglob("*.yaml")):
        text = path.read_text()
        if "{{" in text or "NODE_WITHOUT_CILIUM_IP" in text or "Cilium" not in text:
            continue
        inventory = load_inventory([str(path)])
        parsed += len(inventory.cilium)
        refused += sum(1 for e in inventory.errors if e.severity == "error")
    assert refused == 0 and parsed >= 100
