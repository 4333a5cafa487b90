"""Settings a manifest repository cannot state: CNI, where cluster DNS lives, the pod CIDR.

They come from command-line options or from `.netpol-fix.yaml` at the repository root
(the nearest one found walking up from the current directory, stopping at the folder that
holds `.git`); options win.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = ".netpol-fix.yaml"
CONFIG_MAX_BYTES = 1_000_000
"""A settings file is a few lines; anything larger is refused unread."""
CNIS = ("auto", "cilium", "calico", "aws-vpc-cni", "flannel", "weave", "antrea", "unknown")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Expectation:
    """A connection the repository says must work (`expect:` in .netpol-fix.yaml).

    Policies alone cannot tell a denial from an intention; an expectation states the
    intention, so rules can name the peer that was meant to admit it.
    """

    source: str
    """NS/NAME of a workload or pod."""
    destination: str
    port: int | str | None = None
    protocol: str = "TCP"


def parse_expectations(raw: object, where: str) -> tuple[Expectation, ...]:
    """`expect:` entries `{from: NS/NAME, to: NS/NAME, port: P, protocol: TCP}`."""
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expect must be a list of {{from, to, port, protocol}}")
    result = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expect[{i}] must be a mapping")
        unknown = set(item) - {"from", "to", "port", "protocol"}
        if unknown:
            raise ConfigError(f"{where}: expect[{i}]: unknown key {min(unknown)!r}")
        ends = []
        for key in ("from", "to"):
            value = item.get(key)
            if not isinstance(value, str) or value.count("/") != 1 or value.startswith("/") \
                    or value.endswith("/"):
                raise ConfigError(f"{where}: expect[{i}].{key} must be NAMESPACE/NAME")
            ends.append(value)
        port = item.get("port")
        if port is not None and (isinstance(port, bool) or not isinstance(port, (int, str))
                                 or isinstance(port, int) and not 1 <= port <= 65535):
            raise ConfigError(f"{where}: expect[{i}].port must be 1-65535 or a port name")
        protocol = item.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP", "SCTP"):
            raise ConfigError(f"{where}: expect[{i}].protocol must be TCP, UDP or SCTP")
        result.append(Expectation(ends[0], ends[1], port, protocol))
    return tuple(result)


@dataclass(frozen=True)
class Settings:
    cni: str = "auto"
    dns_namespace: str = "kube-system"
    dns_selector: str = "k8s-app=kube-dns"
    pod_cidr: str | None = None
    node_cidr: str | None = None
    """The nodes' address range: a hostNetwork endpoint's traffic carries its node's address."""
    ipblocks_never_match_pods: bool = False
    """netpol-analyzer's model: ipBlocks match no pod and no node (for comparisons)."""
    expect: tuple[Expectation, ...] = ()
    prefer_selector: bool = False
    """namespace-selector-unmatched: rewrite the selector rather than label the namespace."""
    select: tuple[str, ...] = ()
    """Rule ids to run (empty: all); `--select` replaces it."""
    ignore: tuple[str, ...] = ()
    """Rule ids to skip; `--ignore` replaces it."""
    exclude: tuple[str, ...] = ()
    """gitignore-style patterns of files and directories not to read, relative to the
    config file's folder; `--exclude` adds to them."""
    strict: bool = False
    """one-sided-allow also reports broad permissions nobody can use (one warning per
    policy): `--strict`, or `strict: true` in the config file."""
    all_opens: bool = False
    """List every workload pair a fix opens (`--all-opens`), not only the first ones."""
    config_file: str | None = None

    def dns_labels(self) -> dict[str, str]:
        """`--dns-selector` as a label map (`k=v,k2=v2`)."""
        labels = {}
        for part in self.dns_selector.split(","):
            key, sep, value = part.strip().partition("=")
            if not sep or not key:
                raise ConfigError(f"--dns-selector {self.dns_selector!r}: expected key=value[,...]")
            labels[key] = value
        return labels


def _rule_ids(value: Any, where: str) -> tuple[str, ...]:
    """A list of rule ids, or one comma-separated string of them (as the options take)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of rule ids")
    return tuple(v.strip().lower() for v in value if v.strip())


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    """A list of gitignore-style patterns, or one pattern."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of gitignore-style patterns")
    return tuple(value)


def find_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def _read_config(path: Path) -> Any:
    """The settings file's YAML: UTF-8, bounded in size, plain data (an alias-laden file
    is refused: settings never need anchors, and aliases are how a YAML bomb expands)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    if len(raw) > CONFIG_MAX_BYTES:
        raise ConfigError(f"{path}: {len(raw):,} bytes; a settings file is at most "
                          f"{CONFIG_MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); "
                          "save it as UTF-8") from None
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                where = f"{path}:{event.start_mark.line + 1}" if event.start_mark else path
                raise ConfigError(f"{where}: aliases (*name) are not allowed in a "
                                  "settings file")
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None


def check_pod_cidr(value: Any, where: str) -> str | None:
    """`pod-cidr`: an IPv4 or IPv6 CIDR (host bits allowed, as the API allows them)."""
    if value is None:
        return None
    if not isinstance(value, str) or "/" not in value or value != value.strip() \
            or "%" in value:
        raise ConfigError(f"{where} {value!r}: expected a CIDR such as 10.244.0.0/16")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as err:
        raise ConfigError(f"{where} {value!r}: not a CIDR ({err})") from None
    return value


_TYPES: dict[str, tuple[type, str]] = {
    "cni": (str, "a CNI name"), "dns_namespace": (str, "a namespace name"),
    "dns_selector": (str, "key=value[,...]"), "prefer_selector": (bool, "true or false"),
    "strict": (bool, "true or false"), "all_opens": (bool, "true or false"),
}


def load_settings(overrides: dict[str, Any], start: Path | None = None) -> Settings:
    """Settings from the config file, with non-None `overrides` (options) on top."""
    settings = Settings()
    path = find_config(start)
    if path is not None:
        raw = _read_config(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of settings")
        known = {f.name.replace("_", "-"): f.name for f in fields(Settings)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = known.get(str(key)) or (str(key) if str(key) in known.values() else None)
            if name is None or name == "config_file":
                raise ConfigError(f"{path}: unknown setting {key!r} "
                                  f"(known: cni, dns-namespace, dns-selector, pod-cidr, "
                                  f"node-cidr, ipblocks-never-match-pods, prefer-selector, strict, "
                                  f"all-opens, select, ignore, exclude, expect)")
            if name == "expect":
                value = parse_expectations(value, str(path))
            elif name in ("select", "ignore"):
                value = _rule_ids(value, f"{path}: {name}")
            elif name == "exclude":
                value = _patterns(value, f"{path}: exclude")
            elif name == "pod_cidr":
                value = check_pod_cidr(value, f"{path}: pod-cidr")
            elif name in _TYPES and not isinstance(value, _TYPES[name][0]):
                raise ConfigError(f"{path}: {key}: expected {_TYPES[name][1]}, not "
                                  f"{value!r}")
            values[name] = value
        settings = replace(settings, config_file=str(path), **values)
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    if overrides.get("pod_cidr") is not None:
        check_pod_cidr(overrides["pod_cidr"], "--pod-cidr")
    if settings.cni not in CNIS:
        raise ConfigError(f"unknown CNI {settings.cni!r} (one of {', '.join(CNIS)})")
    settings.dns_labels()
    for key, value in (("pod-cidr", settings.pod_cidr), ("node-cidr", settings.node_cidr)):
        if value is not None:
            try:
                ipaddress.ip_network(str(value), strict=False)
            except ValueError:
                raise ConfigError(f"--{key} {value!r}: not a CIDR (e.g. 10.0.0.0/16)") from None
    return settings
