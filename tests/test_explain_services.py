"""explain with a Service as destination, pod names as kubectl prints them (issue 13).

Kubernetes API reference, ServicePort.targetPort: "Number or name of the port to access on
the pods targeted by the service ... If this is a string, it will be looked up as a named
port in the target Pod's container ports. If this is not specified, the value of the 'port'
field is used": policies see the targetPort, never the Service port.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.engine.pod_names import is_pod_of

APP = str(Path(__file__).parent / "data" / "three-ns")


def explain(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["explain", APP, "--from", "frontend/web", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("to", ["backend/backend-svc", "backend/svc/backend-svc",
                                "backend-svc.backend.svc", "backend-svc.backend.svc.cluster.local"])
def test_service_port_maps_to_the_named_target_port(to: str) -> None:
    code, out = explain("--to", to, "--port", "80")
    assert ("Service backend/backend-svc port 80 (web) → targetPort http (8080) on "
            "backend/api[Deployment]") in out
    assert "on TCP 8080" in out.splitlines()[0]
    # reached by name, and web's egress has no DNS: the connection by name fails
    assert "a connection by name FAILS" in out.splitlines()[0] and code == 1


def test_service_port_by_name_and_a_port_it_lacks() -> None:
    assert "targetPort http (8080)" in explain("--to", "backend/svc/backend-svc",
                                               "--port", "web")[1]
    code, out = explain("--to", "backend/svc/backend-svc", "--port", "443")
    assert code == 2 and "its ports: TCP 80 (web) → targetPort http" in out


def test_workload_port_that_is_the_services_is_a_usage_error_pointing_at_it() -> None:
    code, out = explain("--to", "backend/api", "--port", "80")
    assert code == 2 and "is the port of Service backend/backend-svc" in out


def test_named_port_the_destination_lacks_is_a_usage_error() -> None:
    code, out = explain("--to", "backend/api", "--port", "grpc")
    assert code == 2 and "8080/TCP (http), 9090/TCP (metrics)" in out


def test_target_port_nobody_exposes_is_refused_not_denied() -> None:
    code, out = explain("--to", "backend/svc/broken-svc", "--port", "81")
    assert code == 1 and "REFUSED" in out.splitlines()[0]
    assert "which no container of backend/api[Deployment] exposes" in out


def test_headless_external_name_and_empty_services_are_said() -> None:
    code, out = explain("--to", "backend/svc/db-headless", "--port", "5432")
    assert "headless (clusterIP: None)" in out and "on TCP 5432" in out.splitlines()[0]
    code, out = explain("--to", "backend/svc/ext")
    assert code == 2 and "ExternalName" in out and "db.example.com" in out
    code, out = explain("--to", "backend/svc/orphan")
    assert code == 2 and "selects no pod of the sources" in out


def test_pod_names_as_kubectl_prints_them_resolve_to_their_workload() -> None:
    assert explain("--to", "backend/api-7c9f8d6b5-x2k9q", "--port", "8080")[1].startswith(
        "frontend/web[Deployment] => backend/api[Deployment]")
    assert "backend/db[StatefulSet]" in explain("--to", "backend/db-0", "--port", "5432")[1]
    assert not is_pod_of("api-v2", "api", "Deployment")  # vowels are never generated
    assert is_pod_of("node-agent-x2k9q", "node-agent", "DaemonSet")


def test_trace_names_each_policy_with_file_and_line() -> None:
    _code, out = explain("--to", "backend/svc/backend-svc", "--port", "80")
    assert "isolated by: frontend/default-deny (" in out and "app.yaml:" in out
    assert "frontend/default-deny has no egress rules" in out


def test_service_findings_in_scan() -> None:
    result = CliRunner().invoke(main, ["scan", APP, "--select",
                                       "service-selects-nothing,service-target-port-unexposed"])
    assert result.exit_code == 1
    assert "service-target-port-unexposed] Service backend/broken-svc" in result.output
    assert "service-selects-nothing] Service backend/orphan" in result.output
    assert "Service backend/backend-svc" not in result.output


def test_service_with_kubectls_namespace_option() -> None:
    for to in ("backend-svc", "svc/backend-svc"):
        result = CliRunner().invoke(main, ["explain", APP, "-n", "backend", "--from",
                                           "frontend/web", "--to", to, "--port", "80"])
        assert "Service backend/backend-svc port 80 (web) → targetPort http" in result.output
