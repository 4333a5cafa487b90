"""Which cluster to talk to and how: the kubeconfig (or the pod's service account).

Both the reader (`--cluster`) and `apply` start here. Chosen explicitly rather than by
`config.load_config()`, which would prefer a stray ~/.kube/config inside a pod.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from netpol_fix.cluster.credentials import (
    loading_credentials,
    register_credentials,
    register_kubeconfig_users,
)
from netpol_fix.model.secrets import scrub

if TYPE_CHECKING:
    from kubernetes import client as k8s

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ClusterUnreachable(Exception):
    """The cluster could not be read at all: configuration, connection or credentials.
    Its message is scrubbed of the kubeconfig's secrets (a server may echo them)."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


def use_in_cluster(kubeconfig: str | None, context: str | None,
                   environ: Mapping[str, str] = os.environ) -> bool:
    """In a pod (KUBERNETES_SERVICE_HOST set) use the service account, unless a kubeconfig
    was asked for by option, by $KUBECONFIG, or by naming a context (contexts only exist
    in kubeconfigs). Chosen explicitly: `load_config()` would prefer a stray ~/.kube/config."""
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and not kubeconfig \
        and not context and not environ.get("KUBECONFIG")


def client_configuration(kubeconfig: str | None, context: str | None,
                         environ: Mapping[str, str] = os.environ,
                         service_account_dir: Path | None = None) -> tuple[Any, str | None]:
    """The client Configuration and the default namespace (the context's, or the service
    account's); raises ClusterUnreachable on a missing or broken configuration."""
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = Configuration()
    sa_dir = service_account_dir or SERVICE_ACCOUNT_DIR
    if use_in_cluster(kubeconfig, context, environ):
        try:
            InClusterConfigLoader(str(sa_dir / "token"), str(sa_dir / "ca.crt"),
                                  environ=environ).load_and_set(configuration)
        except (ConfigException, OSError) as err:
            raise ClusterUnreachable(f"cannot use the in-cluster service account: {err}") \
                from None
        register_credentials(configuration)
        try:
            namespace: str | None = (sa_dir / "namespace").read_text().strip() or None
        except OSError:
            namespace = None
        return configuration, namespace
    path = kubeconfig or environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    register_kubeconfig_users(path)
    try:
        with loading_credentials() as exec_failures:
            kube_config.load_kube_config(config_file=path, context=context,
                                         client_configuration=configuration,
                                         persist_config=False)
        contexts, active = kube_config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, TypeError, KeyError,
            AttributeError, yaml.YAMLError) as err:
        raise ClusterUnreachable(scrub(f"cannot load kubeconfig {path}: {err}")) from None
    register_credentials(configuration)
    if exec_failures:
        raise ClusterUnreachable(scrub(f"kubeconfig {path}: {exec_failures[0]}"))
    wanted = context or (active or {}).get("name")
    chosen = next((c for c in contexts or [] if c.get("name") == wanted), None) or {}
    return configuration, (chosen.get("context") or {}).get("namespace")


class ClusterConfigError(Exception):
    """No usable kubeconfig or in-cluster configuration (message scrubbed)."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


def connect(kubeconfig: str | None, context: str | None) -> tuple[k8s.ApiClient, str]:
    """An API client and the name of the context it talks to.

    Chosen explicitly rather than by `config.load_config()`: a kubeconfig when one is given
    or present ($KUBECONFIG, ~/.kube/config), else the pod's service account when running in
    a cluster; the global default client is left alone.
    """
    from kubernetes import client as k8s
    from kubernetes import config

    default = Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION.split(os.pathsep)[0]))
    if (kubeconfig is None and context is None and "KUBECONFIG" not in os.environ
            and not default.exists() and os.environ.get("KUBERNETES_SERVICE_HOST")):
        configuration = k8s.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as err:
            raise ClusterConfigError(f"in-cluster configuration: {err}") from err
        register_credentials(configuration)
        return k8s.ApiClient(configuration), "in-cluster"
    where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    register_kubeconfig_users(where)
    try:
        _contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        with loading_credentials() as exec_failures:
            api_client = config.new_client_from_config(config_file=kubeconfig,
                                                       context=context)
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError,
            AttributeError, yaml.YAMLError) as err:
        raise ClusterConfigError(scrub(f"cannot use kubeconfig {where}: {err}")) from None
    register_credentials(api_client.configuration)
    if exec_failures:
        raise ClusterConfigError(scrub(f"kubeconfig {where}: {exec_failures[0]}"))
    name = context or (active or {}).get("name") or "(unnamed context)"
    return api_client, name
