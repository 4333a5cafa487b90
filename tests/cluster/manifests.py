"""Cluster objects for the tests, written after the real manifests (Helm charts, upstream
install YAML, EKS add-on) as a `kubectl get -o json` would show them."""

from __future__ import annotations

from typing import Any


def daemonset(name: str, namespace: str, labels: dict[str, str],
              containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None,
              extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "generation": 3,
                     "labels": {**labels, **(extra_labels or {})},
                     "annotations": {"deprecated.daemonset.template.generation": "3"}},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, **(extra_labels or {})}},
                "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical",
                         "serviceAccountName": name, "initContainers": init or [],
                         "containers": containers},
            },
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        },
        "status": {"currentNumberScheduled": 3, "desiredNumberScheduled": 3,
                   "numberReady": 3, "observedGeneration": 3},
    }


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", **extra}


CILIUM_IMAGE = ("quay.io/cilium/cilium:v1.15.6@sha256:"
                "6aa840986a3a9722cd967ef63248d675a87add7e1704740902d5d3162f0c0def")
CILIUM = daemonset(
    "cilium", "kube-system", {"k8s-app": "cilium"},
    [container("cilium-agent", CILIUM_IMAGE, command=["cilium-agent"],
               args=["--config-dir=/tmp/cilium/config-map"])],
    [container("config", CILIUM_IMAGE, command=["cilium-dbg", "build-config"]),
     container("mount-cgroup", CILIUM_IMAGE), container("apply-sysctl-overwrites", CILIUM_IMAGE),
     container("mount-bpf-fs", CILIUM_IMAGE), container("clean-cilium-state", CILIUM_IMAGE),
     container("install-cni-binaries", CILIUM_IMAGE)],
    extra_labels={"app.kubernetes.io/name": "cilium-agent", "app.kubernetes.io/part-of": "cilium"})

GKE_ANETD = daemonset(
    "anetd", "kube-system", {"k8s-app": "cilium"},
    [container("cilium-agent", "gke.gcr.io/cilium/cilium:v1.14.13-gke.700",
               command=["cilium-agent"])],
    [container("clean-cilium-state", "gke.gcr.io/cilium/cilium:v1.14.13-gke.700")],
    extra_labels={"components.gke.io/component-name": "advanceddatapath"})

CALICO = daemonset(
    "calico-node", "kube-system", {"k8s-app": "calico-node"},
    [container("calico-node", "docker.io/calico/node:v3.27.3",
               env=[{"name": "DATASTORE_TYPE", "value": "kubernetes"},
                    {"name": "CALICO_NETWORKING_BACKEND", "value": "bird"}])],
    [container("upgrade-ipam", "docker.io/calico/cni:v3.27.3"),
     container("install-cni", "docker.io/calico/cni:v3.27.3"),
     container("mount-bpffs", "docker.io/calico/node:v3.27.3")])

CALICO_RENAMED = daemonset(  # a Helm release that names and labels it its own way
    "netstack-node", "networking", {"app.kubernetes.io/name": "netstack-node"},
    [container("calico-node", "registry.example.com/mirror/calico/node:v3.26.1")])

CANAL = daemonset(
    "canal", "kube-system", {"k8s-app": "canal"},
    [container("calico-node", "docker.io/calico/node:v3.27.3"),
     container("kube-flannel", "docker.io/flannel/flannel:v0.24.2",
               command=["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"])],
    [container("install-cni", "docker.io/calico/cni:v3.27.3")])

RKE2_CANAL = daemonset(
    "rke2-canal", "kube-system", {"k8s-app": "canal"},
    [container("calico-node", "rancher/hardened-calico:v3.27.3-build20240423"),
     container("kube-flannel", "rancher/hardened-flannel:v0.25.1-build20240423")],
    [container("install-cni", "rancher/hardened-calico:v3.27.3-build20240423")])

AWS_REGISTRY = "602401143452.dkr.ecr.us-west-2.amazonaws.com"


def aws_node(policy: str | None) -> dict[str, Any]:
    """The EKS add-on's aws-node; `policy` is the node agent's --enable-network-policy value
    (None: an older add-on without the node agent container)."""
    containers = [container("aws-node", f"{AWS_REGISTRY}/amazon-k8s-cni:v1.18.1-eksbuild.3",
                            env=[{"name": "AWS_VPC_K8S_CNI_LOGLEVEL", "value": "DEBUG"},
                                 {"name": "NETWORK_POLICY_ENFORCING_MODE",
                                  "value": "standard"}])]
    if policy is not None:
        containers.append(container(
            "aws-eks-nodeagent", f"{AWS_REGISTRY}/amazon/aws-network-policy-agent:"
            "v1.1.1-eksbuild.2",
            args=["--enable-ipv6=false", f"--enable-network-policy={policy}",
                  "--enable-cloudwatch-logs=false", "--enable-policy-event-logs=false",
                  "--log-file=/var/log/aws-routed-eni/network-policy-agent.log",
                  "--metrics-bind-addr=:8162", "--health-probe-bind-addr=:8163",
                  "--conntrack-cache-cleanup-period=300"]))
    return daemonset("aws-node", "kube-system", {"k8s-app": "aws-node"}, containers,
                     [container("aws-vpc-cni-init",
                                f"{AWS_REGISTRY}/amazon-k8s-cni-init:v1.18.1-eksbuild.3")],
                     extra_labels={"app.kubernetes.io/name": "aws-node",
                                   "app.kubernetes.io/instance": "aws-vpc-cni"})


FLANNEL = daemonset(
    "kube-flannel-ds", "kube-flannel", {"app": "flannel"},
    [container("kube-flannel", "docker.io/flannel/flannel:v0.25.1",
               command=["/opt/bin/flanneld"], args=["--ip-masq", "--kube-subnet-mgr"])],
    [container("install-cni-plugin", "docker.io/flannel/flannel-cni-plugin:v1.4.0-flannel1"),
     container("install-cni", "docker.io/flannel/flannel:v0.25.1")],
    extra_labels={"tier": "node", "k8s-app": "flannel"})

WEAVE = daemonset(
    "weave-net", "kube-system", {"name": "weave-net"},
    [container("weave", "weaveworks/weave-kube:latest",
               command=["/home/weave/launch.sh"]),
     container("weave-npc", "weaveworks/weave-npc:latest")],
    [container("weave-init", "weaveworks/weave-kube:latest",
               command=["/home/weave/init.sh"])])

ANTREA = daemonset(
    "antrea-agent", "kube-system", {"app": "antrea", "component": "antrea-agent"},
    [container("antrea-agent", "antrea/antrea-agent-ubuntu:v2.0.0",
               command=["antrea-agent"]),
     container("antrea-ovs", "antrea/antrea-agent-ubuntu:v2.0.0",
               command=["start_ovs"])],
    [container("install-cni", "antrea/antrea-agent-ubuntu:v2.0.0",
               command=["install_cni"])])

KUBE_ROUTER = daemonset(
    "kube-router", "kube-system", {"k8s-app": "kube-router"},
    [container("kube-router", "docker.io/cloudnativelabs/kube-router",
               args=["--run-router=true", "--run-firewall=true",
                     "--run-service-proxy=false", "--bgp-graceful-restart=true"])],
    [container("install-cni", "docker.io/library/busybox",
               command=["/bin/sh", "-c", "set -e -x; cp /etc/kube-router/cni-conf.json ..."])],
    extra_labels={"tier": "node"})

KUBE_PROXY = daemonset(
    "kube-proxy", "kube-system", {"k8s-app": "kube-proxy"},
    [container("kube-proxy", "registry.k8s.io/kube-proxy:v1.30.2",
               command=["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"])])

K3S_NODE = {
    "apiVersion": "v1", "kind": "Node",
    "metadata": {"name": "k3s-server-0", "annotations": {
        "flannel.alpha.coreos.com/backend-data": '{"VNI":1,"VtepMAC":"8a:1c:4e:2f:0b:77"}',
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/kube-subnet-manager": "true",
        "flannel.alpha.coreos.com/public-ip": "10.0.0.5",
        "k3s.io/node-args": '["server"]'},
        "labels": {"kubernetes.io/hostname": "k3s-server-0",
                   "node-role.kubernetes.io/control-plane": "true"}},
    "status": {"nodeInfo": {"kubeletVersion": "v1.30.2+k3s1",
                            "containerRuntimeVersion": "containerd://1.7.17-k3s1"}},
}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/metadata.name": name, **labels}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def pod(name: str, ns: str, labels: dict[str, str], ip: str, phase: str = "Running",
        owner: tuple[str, str] | None = None, ports: list[int] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0],
                                    "name": owner[1], "controller": True,
                                    "blockOwnerDeletion": True,
                                    "uid": "5f1e0d3c-0000-4000-8000-000000000001"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "main", "image": "registry.example.com/app:1",
                                     "ports": [{"containerPort": p, "protocol": "TCP"}
                                               for p in ports or []]}],
                     "nodeName": "node-1", "restartPolicy": "Always"},
            "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}}


DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "shop", "generation": 1},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}

DNS_ALLOW = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "shop"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
             "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                 "kubernetes.io/metadata.name": "kube-system"}},
                 "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]},
}

WEB_L4_INGRESS = {
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                          "ports": [{"protocol": "TCP", "port": 8080}]}]},
}


def shop_cluster() -> list[dict[str, Any]]:
    """A small cluster: the shop namespace with a default-deny lacking DNS, its pods, the
    DNS service and pods, Cilium as CNI."""
    return [
        namespace("kube-system"), namespace("shop", team="shop"), namespace("default"),
        DEFAULT_DENY,
        pod("web-7c9f8d-abcde", "shop", {"app": "web", "pod-template-hash": "7c9f8d"},
            "10.0.1.10", owner=("ReplicaSet", "web-7c9f8d"), ports=[8080]),
        pod("client-5d4b-xyz12", "shop", {"app": "client", "pod-template-hash": "5d4b"},
            "10.0.1.11", owner=("ReplicaSet", "client-5d4b")),
        pod("migrate-1-done", "shop", {"job-name": "migrate-1"}, "10.0.1.12",
            phase="Succeeded", owner=("Job", "migrate-1")),
        pod("coredns-76f75df574-2xq7v", "kube-system",
            {"k8s-app": "kube-dns", "pod-template-hash": "76f75df574"}, "10.0.0.20",
            owner=("ReplicaSet", "coredns-76f75df574"), ports=[53]),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "kube-dns", "namespace": "kube-system",
                      "labels": {"k8s-app": "kube-dns"}},
         "spec": {"selector": {"k8s-app": "kube-dns"}, "clusterIP": "10.96.0.10",
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                             "targetPort": 53}]}},
        CILIUM, KUBE_PROXY,
    ]
