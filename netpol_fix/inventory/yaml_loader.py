"""The inventory's YAML loader: the one in netpol_fix/yamldata (libyaml's composer with a
constructor that is fast for plain manifests and exact for everything else, bounded like
the API server's reader), which the YAML editor shares for its read-backs. These names stay
here for the inventory's modules."""

from netpol_fix.yamldata.loader import (
    ALIAS_RATIO_HIGH,
    ALIAS_RATIO_LOW,
    MAX_DEPTH,
    BaseLoader,
    Budget,
    DocumentTooComplex,
    Loader,
    allowed_alias_ratio,
    check_bounds,
    construct,
)

__all__ = ["ALIAS_RATIO_HIGH", "ALIAS_RATIO_LOW", "MAX_DEPTH", "BaseLoader", "Budget",
           "DocumentTooComplex", "Loader", "allowed_alias_ratio", "check_bounds", "construct"]
