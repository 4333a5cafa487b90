"""The retry policy for writes the Kubernetes client does not retry (PATCH, POST)."""

from __future__ import annotations

import pytest
import yaml
from kubernetes import config
from kubernetes.client.exceptions import ApiException

from netpol_fix.cluster.objects import ClusterObjects, Ref
from netpol_fix.cluster.retry import RetryPolicy, retry_after
from tests.cluster_apply.fake_api import FakeApi


class Flaky:
    """Raises the queued errors, then returns "ok"; counts calls."""

    def __init__(self, *errors: tuple[int, dict[str, str]]) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            code, headers = self.errors.pop(0)
            err = ApiException(status=code, reason="injected")
            err.headers = headers
            raise err
        return "ok"


def policy(sleeps: list[float], attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=1.0, max_delay=30.0,
                       sleep=sleeps.append, jitter=lambda: 1.0)


def test_429_waits_as_long_as_retry_after_says() -> None:
    sleeps: list[float] = []
    func = Flaky((429, {"Retry-After": "3"}), (429, {"retry-after": "1"}))
    assert policy(sleeps).call(func) == "ok"
    assert sleeps == [3.0, 1.0] and func.calls == 3


def test_503_honours_retry_after_and_caps_it() -> None:
    sleeps: list[float] = []
    assert policy(sleeps).call(Flaky((503, {"Retry-After": "3600"}))) == "ok"
    assert sleeps == [30.0]


def test_500_502_504_back_off_exponentially() -> None:
    sleeps: list[float] = []
    func = Flaky((500, {}), (502, {}), (504, {}))
    assert policy(sleeps).call(func) == "ok"
    assert sleeps == [1.0, 2.0, 4.0]


def test_jitter_spreads_the_wait_over_the_upper_half() -> None:
    low = RetryPolicy(base_delay=4.0, jitter=lambda: 0.0)
    high = RetryPolicy(base_delay=4.0, jitter=lambda: 1.0)
    assert low.delay(500, None, 1) == 2.0 and high.delay(500, None, 1) == 4.0
    assert RetryPolicy(base_delay=4.0, jitter=lambda: 1.0).delay(429, {}, 2) == 8.0


def test_retries_are_bounded_and_the_last_error_propagates() -> None:
    sleeps: list[float] = []
    func = Flaky(*[(503, {})] * 10)
    with pytest.raises(ApiException) as err:
        policy(sleeps, attempts=3).call(func)
    assert err.value.status == 503 and func.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize("code", [400, 403, 404, 409, 422])
def test_client_errors_are_not_retried(code: int) -> None:
    sleeps: list[float] = []
    func = Flaky((code, {}))
    with pytest.raises(ApiException):
        policy(sleeps).call(func)
    assert func.calls == 1 and sleeps == []


def test_retry_after_parsing() -> None:
    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after({}) is None and retry_after(None) is None


def test_patch_through_the_real_client_retries_429_then_applies(fake_api: FakeApi) -> None:
    """The kubernetes client itself never retries PATCH; ours does, honouring Retry-After."""
    fake_api.add_namespace("shop")
    api_client = config.new_client_from_config_dict(yaml.safe_load(fake_api.kubeconfig_text))
    sleeps: list[float] = []
    objects = ClusterObjects(api_client, policy(sleeps))
    fake_api.fail_next(429, {"Retry-After": "2"})
    fake_api.fail_next(500)
    ops = [{"op": "add", "path": "/metadata/labels/team", "value": "shop"}]
    stored = objects.patch(Ref("v1", "Namespace", None, "shop"), ops, dry_run=False)
    assert stored["metadata"]["labels"]["team"] == "shop"
    assert sleeps == [2.0, 2.0]  # Retry-After, then the second backoff step
    patches = [r for r in fake_api.requests if r[0] == "PATCH"]
    assert len(patches) == 3 and patches[-1][3] == ops
