"""The streamed JSON of `scan --format json` is exactly `json.dumps(..., indent=2)`."""

from __future__ import annotations

import json

from netpol_fix.emit.findings import render_json, to_json
from netpol_fix.model.objects import InputError
from netpol_fix.rules.one_sided_allow import OneSidedAllow
from tests.rules.helpers import context
from tests.rules.test_one_sided_allow import TWO_CLIENTS, text


def test_streamed_json_equals_one_dump() -> None:
    findings = list(OneSidedAllow().check(context(TWO_CLIENTS + "---\n" + text())))
    assert len(findings) >= 2
    errors = [InputError("x.yaml", 2, 14, "bad \"thing\"\nhere")]
    for chosen, extra in ((findings, None), (findings[:1], {"cni": {"name": "calico"}}),
                          ([], None), ([], {"cni": None})):
        expected = json.dumps(to_json(chosen, errors, extra), indent=2) + "\n"
        assert render_json(chosen, errors, extra) == expected
