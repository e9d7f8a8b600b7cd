"""Item 13: every logged or returned error names its innermost cause."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_aws import FakeSNS, start_fake_sns
from sns_signing import TEST_CERT_URL, make_test_ca_and_signing_cert


def test_error_with_cause_names_the_innermost_cause() -> None:
    from alertd.log import error_with_cause

    try:
        try:
            try:
                raise OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
            except OSError as exc:
                raise RuntimeError("") from exc
        except RuntimeError as exc:
            raise ConnectionError() from exc
    except ConnectionError as exc:
        text = error_with_cause(exc)
    assert text == "ConnectionError (cause: OSError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed)"
    assert error_with_cause(ValueError("plain")) == "ValueError: plain"
    group = ExceptionGroup("wrapped", [KeyError("inner")])
    assert error_with_cause(group) == "ExceptionGroup: wrapped (1 sub-exception) (cause: KeyError: 'inner')"


@pytest.fixture
def fake_sns_without_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSNS]:
    """The fake SNS through its CONNECT proxy, as a TLS-intercepting proxy looks to a client
    that lacks the proxy's CA: the default trust store is used, not the fake's CA."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    state = start_fake_sns(tmp_path)
    monkeypatch.setenv("HTTPS_PROXY", state.proxy_url)
    monkeypatch.setenv("https_proxy", state.proxy_url)
    try:
        yield state
    finally:
        state.stop()


async def test_cert_fetch_through_an_untrusted_tls_proxy_names_the_cause(
    tmp_path: Path, fake_sns_without_ca: FakeSNS
) -> None:
    from alertd_aws_sns.signature import CertificateCache, CertificateUnavailable

    *_, pem = make_test_ca_and_signing_cert()
    fake_sns_without_ca.routes["/SimpleNotificationService-alertdtest.pem"] = (200, {}, pem)
    cache = CertificateCache(tmp_path / "certs", timeout=5)
    with pytest.raises(CertificateUnavailable) as info:
        await cache.get(TEST_CERT_URL)
    assert fake_sns_without_ca.connects, "the fetch must have gone through the proxy"
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.reason, info.value.reason
    assert info.value.reason.startswith(f"fetching {TEST_CERT_URL} failed: ConnectError")


async def test_subscribe_url_fetch_through_an_untrusted_tls_proxy_names_the_cause(
    fake_sns_without_ca: FakeSNS,
) -> None:
    from alertd_aws_sns.confirm import ConfirmError, fetch_subscribe_url

    topic = "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"
    url = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=abc"
    with pytest.raises(ConfirmError) as info:
        await fetch_subscribe_url(url, topic, timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value), str(info.value)


async def test_http_delivery_to_an_untrusted_tls_receiver_names_the_cause(
    fake_sns_without_ca: FakeSNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook/ntfy receiver whose certificate is not trusted: the notification's last
    error says why, not just ``ConnectError:``."""
    import httpx

    from alertd import http_delivery

    monkeypatch.setattr(http_delivery, "_SSL", None)  # a fresh default trust store, without the fake's CA
    result = await http_delivery.post(
        httpx.URL("https://sns.us-east-1.amazonaws.com/hook"), json={}, headers={}, timeout=5, who="webhook"
    )
    assert result.status == "retry"
    assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error, result.error
