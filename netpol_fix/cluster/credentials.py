"""The kubeconfig's credentials: registered for scrubbing, and exec plugins bounded in time.

Once a client configuration is loaded, its bearer token, basic-auth password and client
key are registered with model/secrets.py, so no message that carries an API server's text
(a 401 body that echoes `Bearer <token>`) can show them. The kubernetes client runs a
kubeconfig `exec` plugin (aws eks get-token, kubelogin, ...) and waits for it forever; here
it gets EXEC_TIMEOUT seconds (`$NETPOL_FIX_EXEC_TIMEOUT`), then it is killed and the
command stops with a message instead of hanging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import types
from collections.abc import Iterator
from typing import Any

from netpol_fix.model.secrets import register_secret

EXEC_TIMEOUT = 60.0
"""Seconds a kubeconfig exec plugin may take (kubectl's own plugins answer in a few)."""


def exec_timeout() -> float:
    try:
        return float(os.environ.get("NETPOL_FIX_EXEC_TIMEOUT", EXEC_TIMEOUT))
    except ValueError:
        return EXEC_TIMEOUT


class _TimedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """Popen whose communicate() gives up after exec_timeout() and kills the plugin."""

    def communicate(self, input: Any = None, timeout: float | None = None) -> Any:
        limit = exec_timeout() if timeout is None else timeout
        try:
            return super().communicate(input, limit)
        except subprocess.TimeoutExpired:
            self.kill()
            super().communicate()
            from kubernetes.config.config_exception import ConfigException

            args = self.args if isinstance(self.args, list) else [self.args]
            raise ConfigException(f"exec plugin {args[0]!s} did not "
                                  f"answer within {limit:g} s (killed; "
                                  "NETPOL_FIX_EXEC_TIMEOUT sets the limit)") from None


def bound_exec_plugins() -> None:
    """Make the kubernetes client run exec plugins with a timeout (idempotent): its
    exec_provider module gets a `subprocess` whose Popen is _TimedPopen; the real module
    is untouched for everyone else."""
    from kubernetes.config import exec_provider

    if getattr(exec_provider.subprocess, "Popen", None) is _TimedPopen:
        return
    shim = types.SimpleNamespace(**{k: getattr(subprocess, k) for k in dir(subprocess)
                                    if not k.startswith("__")})
    shim.Popen = _TimedPopen
    exec_provider.subprocess = shim  # type: ignore[assignment]


class _ExecFailure(logging.Handler):
    """The kubernetes client logs an exec plugin's failure and goes on without
    credentials; collected here, it becomes the command's error instead."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("exec"):
            self.messages.append(message)


@contextlib.contextmanager
def loading_credentials() -> Iterator[list[str]]:
    """Around loading a kubeconfig: exec plugins bounded, their failures collected (the
    yielded list) instead of logged to stderr."""
    bound_exec_plugins()
    handler = _ExecFailure()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.messages
    finally:
        root.removeHandler(handler)


def register_credentials(configuration: Any) -> None:
    """Register a loaded client Configuration's secrets for scrubbing."""
    for value in (getattr(configuration, "api_key", None) or {}).values():
        register_secret(value)
    register_secret(getattr(configuration, "password", None))
    username, password = getattr(configuration, "username", None), \
        getattr(configuration, "password", None)
    if username and password:
        register_secret(f"{username}:{password}")
    key_file = getattr(configuration, "key_file", None)
    if key_file:
        with contextlib.suppress(OSError, UnicodeDecodeError), \
                open(key_file, encoding="utf-8") as handle:
            register_secret(handle.read())


def register_kubeconfig_users(paths: str) -> None:
    """Register every user credential written in the kubeconfig files (`paths` as in
    $KUBECONFIG; token, password, client-key-data), whichever context is used."""
    for path in paths.split(os.pathsep):
        if path:
            _register_users(os.path.expanduser(path))


def _register_users(path: str) -> None:
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return
    if not isinstance(data, dict):
        return
    for entry in data.get("users") or []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        for key in ("token", "password", "client-key-data"):
            register_secret(user.get(key))
        if isinstance(user.get("client-key-data"), str):
            import base64
            import binascii

            with contextlib.suppress(binascii.Error, ValueError, UnicodeDecodeError):
                register_secret(base64.b64decode(user["client-key-data"]).decode("utf-8"))
