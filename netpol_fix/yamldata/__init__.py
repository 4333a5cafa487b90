"""YAML text to plain data, exactly as PyYAML's safe loader builds it but faster, and
bounded like the Kubernetes API server's reader (loader.py).

Why its own layer: the inventory reads manifests with it, and the YAML editor reads every
edited document back with it to compare with jsonpatch's answer; the editor may not import
the inventory, and the comparison is only exact when both sides go through one constructor.

May import nothing of netpol_fix but itself: it turns text into data and knows no
Kubernetes.
"""

from netpol_fix.yamldata.loader import (
    MAX_DEPTH,
    BaseLoader,
    DocumentTooComplex,
    Loader,
    compose_single,
    construct,
    load_single,
)

__all__ = ["MAX_DEPTH", "BaseLoader", "DocumentTooComplex", "Loader", "compose_single", "construct",
           "load_single"]
