"""SNS signature verification and the signing-certificate cache.

The fetch tests never touch the internet: httpx is pointed (via HTTPS_PROXY) at a local
CONNECT proxy that tunnels every connection to a local TLS server presenting a certificate
for sns.us-east-1.amazonaws.com signed by a throwaway CA (trusted via SSL_CERT_FILE).
"""

from __future__ import annotations

import base64
import json
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from helpers import ROOT, SAMPLES, free_port

sys.path.insert(0, str(ROOT / "plugins" / "alertd_aws_sns" / "src"))

import sns_signing
from alertd_aws_sns.signature import (
    SNS_HOST_RE,
    CertificateCache,
    CertificateUnavailable,
    SignatureError,
    cache_filename,
    cert_url_problem,
    string_to_sign,
    topic_region,
    validate_cert_url,
    validate_sns_url_for_topic,
    verify_signature,
)
from fake_aws import FakeSNS, make_tls_ca_and_server, start_fake_sns
from sns_signing import TEST_CERT_URL, sign_message

TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"
CERT_PATH = "/SimpleNotificationService-alertdtest.pem"


@pytest.fixture(scope="module")
def signing() -> tuple[rsa.RSAPrivateKey, x509.Certificate, bytes]:
    return sns_signing.make_test_ca_and_signing_cert()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def base_notification(**extra: str) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC,
        "Message": '{"a": 1}',
        "Timestamp": "2026-11-24T12:05:00.900Z",
        "SigningCertURL": TEST_CERT_URL,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        **extra,
    }


# --- string to sign -------------------------------------------------------------------------


def test_string_to_sign_notification_without_subject() -> None:
    expected = (
        b'Message\n{"a": 1}\n'
        b"MessageId\nm-1\n"
        b"Timestamp\n2026-11-24T12:05:00.900Z\n"
        b"TopicArn\narn:aws:sns:us-east-1:123456789012:cloudtrail-alarms\n"
        b"Type\nNotification\n"
    )
    assert string_to_sign(base_notification()) == expected


def test_string_to_sign_notification_with_subject() -> None:
    expected = (
        b'Message\n{"a": 1}\n'
        b"MessageId\nm-1\n"
        b'Subject\nALARM: "x" in US East\n'
        b"Timestamp\n2026-11-24T12:05:00.900Z\n"
        b"TopicArn\narn:aws:sns:us-east-1:123456789012:cloudtrail-alarms\n"
        b"Type\nNotification\n"
    )
    assert string_to_sign(base_notification(Subject='ALARM: "x" in US East')) == expected


def test_string_to_sign_subscription_confirmation() -> None:
    _headers, body = sns_signing.sample_envelope("sns-subscription-confirmation.json")
    expected = (
        "Message\nYou have chosen to subscribe to the topic "
        "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.\n"
        "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
        f"SubscribeURL\n{body['SubscribeURL']}\n"
        "Timestamp\n2026-11-24T11:58:04.751Z\n"
        f"Token\n{body['Token']}\n"
        "TopicArn\narn:aws:sns:us-east-1:123456789012:cloudtrail-alarms\n"
        "Type\nSubscriptionConfirmation\n"
    ).encode()
    assert string_to_sign(body) == expected
    # UnsubscribeConfirmation signs the same keys.
    assert string_to_sign({**body, "Type": "UnsubscribeConfirmation"}) == expected.replace(
        b"Type\nSubscriptionConfirmation\n", b"Type\nUnsubscribeConfirmation\n"
    )


def test_string_to_sign_is_utf8() -> None:
    assert "Message\nAlarm ünd ✓\n".encode() in string_to_sign(base_notification(Message="Alarm ünd ✓"))


def test_string_to_sign_rejects_unknown_type_and_missing_keys() -> None:
    with pytest.raises(SignatureError, match="Type"):
        string_to_sign(base_notification(Type="Bogus"))
    msg = base_notification()
    del msg["TopicArn"]
    with pytest.raises(SignatureError, match="TopicArn"):
        string_to_sign(msg)
    _h, conf = sns_signing.sample_envelope("sns-subscription-confirmation.json")
    del conf["Token"]
    with pytest.raises(SignatureError, match="Token"):
        string_to_sign(conf)


# --- verify_signature -----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_signatures_verify(signing, version: str) -> None:
    key, cert, _pem = signing
    verify_signature(sign_message(base_notification(), key, version), cert)
    verify_signature(sign_message(base_notification(Subject="hello"), key, version), cert)
    _h, conf = sns_signing.sample_envelope("sns-subscription-confirmation.json")
    verify_signature(sign_message(conf, key, version), cert)


def test_helper_envelopes_verify(signing) -> None:
    _key, cert, _pem = signing
    env = sns_signing.notification({"AlarmName": "x"}, subject="ALARM", message_id="id-1")
    verify_signature(env, cert)
    assert json.loads(env["Message"]) == {"AlarmName": "x"}
    headers = sns_signing.headers_for(env)
    assert headers["x-amz-sns-message-id"] == "id-1"
    assert headers["x-amz-sns-message-type"] == "Notification"
    conf = sns_signing.subscription_confirmation(topic="arn:aws:sns:eu-west-2:123456789012:t")
    verify_signature(conf, cert)
    validate_sns_url_for_topic(conf["SubscribeURL"], conf["TopicArn"])
    assert conf["SubscribeURL"].startswith("https://sns.eu-west-2.amazonaws.com/")
    _h, body = sns_signing.signed_sample("sns-cloudwatch-alarm-ALARM.json", version="2")
    verify_signature(body, cert)


@pytest.mark.parametrize(
    "field_name, value",
    [
        ("Message", '{"a": 2}'),
        ("Subject", "OK: everything is fine"),
        ("TopicArn", "arn:aws:sns:us-east-1:123456789012:other-topic"),
        ("MessageId", "m-2"),
        ("Timestamp", "2026-11-24T12:05:01.900Z"),
    ],
)
@pytest.mark.parametrize("version", ["1", "2"])
def test_tampered_fields_fail(signing, field_name: str, value: str, version: str) -> None:
    key, cert, _pem = signing
    signed = sign_message(base_notification(Subject="ALARM: x"), key, version)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature({**signed, field_name: value}, cert)


def test_removing_subject_fails(signing) -> None:
    key, cert, _pem = signing
    signed = sign_message(base_notification(Subject="ALARM: x"), key)
    del signed["Subject"]
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(signed, cert)


def test_tampered_subscribe_url_fails(signing) -> None:
    _key, cert, _pem = signing
    conf = sns_signing.subscription_confirmation()
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature({**conf, "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?evil"}, cert)


def test_wrong_key_fails(signing, other_key) -> None:
    _key, cert, _pem = signing
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(sign_message(base_notification(), other_key), cert)


def test_version_mismatch_fails(signing) -> None:
    key, cert, _pem = signing
    signed = sign_message(base_notification(), key, "1")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature({**signed, "SignatureVersion": "2"}, cert)


@pytest.mark.parametrize("version", ["3", "0", "", None, 1])
def test_unsupported_version_fails(signing, version) -> None:
    key, cert, _pem = signing
    signed = {**sign_message(base_notification(), key), "SignatureVersion": version}
    if version is None:
        del signed["SignatureVersion"]
    with pytest.raises(SignatureError, match="SignatureVersion"):
        verify_signature(signed, cert)


@pytest.mark.parametrize("signature", ["not base64!!", "", "abc"])
def test_bad_signature_encoding_fails(signing, signature: str) -> None:
    key, cert, _pem = signing
    signed = {**sign_message(base_notification(), key), "Signature": signature}
    with pytest.raises(SignatureError, match=r"base64|no Signature"):
        verify_signature(signed, cert)


def test_certificate_validity_window(signing) -> None:
    key, cert, _pem = signing
    signed = sign_message(base_notification(), key)
    now = datetime.now(UTC)
    verify_signature(signed, cert, now=now)
    with pytest.raises(SignatureError, match="expired"):
        verify_signature(signed, cert, now=now + timedelta(days=31))
    with pytest.raises(SignatureError, match="not valid before"):
        verify_signature(signed, cert, now=now - timedelta(days=2))


def _self_signed(key, not_before: datetime, not_after: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def test_expired_certificate_fails(signing) -> None:
    key, _cert, _pem = signing
    now = datetime.now(UTC)
    expired = _self_signed(key, now - timedelta(days=60), now - timedelta(days=1))
    with pytest.raises(SignatureError, match="expired"):
        verify_signature(sign_message(base_notification(), key), expired)


def test_non_rsa_certificate_fails(signing) -> None:
    key, _cert, _pem = signing
    ec_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    ec_cert = _self_signed(ec_key, now - timedelta(days=1), now + timedelta(days=1))
    with pytest.raises(SignatureError, match="not RSA"):
        verify_signature(sign_message(base_notification(), key), ec_cert)


# --- URL validation -------------------------------------------------------------------------


def sample_bodies() -> list[dict]:
    bodies = [json.loads(p.read_text())["body"] for p in sorted(SAMPLES.glob("sns-*.json"))]
    assert bodies
    return bodies


def test_sample_urls_are_accepted() -> None:
    for body in sample_bodies():
        validate_cert_url(body["SigningCertURL"])
        for key in ("SubscribeURL", "UnsubscribeURL"):
            if key in body:
                validate_sns_url_for_topic(body[key], body["TopicArn"])
    validate_cert_url(TEST_CERT_URL)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.ap-southeast-4.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-abc.pem",
    ],
)
def test_cert_url_accepted(url: str) -> None:
    validate_cert_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "ftp://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-abc.pem",
        "https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://evil.com/?sns.us-east-1.amazonaws.com/x.pem",
        "https://amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://mybucket.s3.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://evilsns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-abc.pem",
        "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://evil.com@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com:80/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com:/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem.exe",
        "https://sns.us-east-1.amazonaws.com/",
        "https://sns.us-east-1.amazonaws.com",
        "https://sns.us-east-1.amazonaws.com/../etc/passwd.pem",
        "https://sns.us-east-1.amazonaws.com/a/b.pem",
        "https://sns.us-east-1.amazonaws.com/..pem",
        "https://sns.us-east-1.amazonaws.com/%2e%2e%2fx.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem#frag",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem#",
        "https://sns.us-east-1.amazonaws.com/Simple Notification.pem",
        " https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem\n",
        "",
    ],
)
def test_cert_url_rejected(url: str) -> None:
    with pytest.raises(SignatureError):
        validate_cert_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://sns.us-east-1.amazonaws.com:8443/x.pem", "must not use a port other than 443"),
        ("https://user@sns.us-east-1.amazonaws.com/x.pem", "must not contain user information"),
        ("https://sns.us-east-1.amazonaws.com/x.pem#", "must not have a fragment"),
        ("http://sns.us-east-1.amazonaws.com/x.pem", "must use https"),
    ],
)
def test_cert_url_rejected_for_the_right_reason(url: str, reason: str) -> None:
    # Several checks overlap; each must hold on its own (a later one is not a reason to drop it).
    with pytest.raises(SignatureError, match=reason):
        validate_cert_url(url)


def test_signature_with_junk_characters_is_not_base64(signing) -> None:
    key, cert, _pem = signing
    signed = sign_message(base_notification(), key)
    with pytest.raises(SignatureError, match="base64"):
        verify_signature({**signed, "Signature": signed["Signature"] + "*"}, cert)


def test_non_string_signed_field_is_refused() -> None:
    with pytest.raises(SignatureError, match="MessageId is not a string"):
        string_to_sign({**base_notification(), "MessageId": 12})


def test_sns_host_re() -> None:
    assert SNS_HOST_RE.match("sns.us-east-1.amazonaws.com")
    assert SNS_HOST_RE.match("sns.cn-northwest-1.amazonaws.com.cn")
    assert not SNS_HOST_RE.match("sns.us-east-1.amazonaws.com.evil.com")
    assert not SNS_HOST_RE.match("sqs.us-east-1.amazonaws.com")


def test_topic_region() -> None:
    assert topic_region(TOPIC) == "us-east-1"
    assert topic_region("arn:aws-cn:sns:cn-north-1:123456789012:t") == "cn-north-1"
    assert topic_region("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t") == "us-gov-west-1"
    assert topic_region("arn:aws:sqs:us-east-1:123456789012:t") is None
    assert topic_region("arn:aws:sns:evil.com:123456789012:t") is None
    assert topic_region("not an arn") is None


def test_subscribe_url_must_match_topic_region() -> None:
    url = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
    validate_sns_url_for_topic(url, TOPIC)
    validate_sns_url_for_topic(
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription",
        "arn:aws-cn:sns:cn-north-1:123456789012:t",
    )
    validate_sns_url_for_topic(
        "https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
    )
    bad = [
        url.replace("us-east-1.amazonaws", "eu-west-1.amazonaws", 1),
        url.replace("https://", "http://"),
        url.replace("sns.us-east-1.amazonaws.com", "evil.com"),
        url.replace("sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com.evil.com"),
        url.replace("sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com.cn"),
        url.replace("sns.us-east-1.amazonaws.com", "user@sns.us-east-1.amazonaws.com"),
        url.replace("sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com:8443"),
        url.replace("sns.us-east-1.amazonaws.com", "169.254.169.254"),
        "https://evil.com/sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
    ]
    for candidate in bad:
        with pytest.raises(SignatureError):
            validate_sns_url_for_topic(candidate, TOPIC)
    with pytest.raises(SignatureError, match="TopicArn"):
        validate_sns_url_for_topic(url, "arn:aws:sns:evil.com:123456789012:t")


def test_cache_filename() -> None:
    assert (
        cache_filename("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem")
        == "sns.us-east-1.amazonaws.com_SimpleNotificationService-abc.pem"
    )
    with pytest.raises(SignatureError):
        cache_filename("https://evil.com/x.pem")


# --- CertificateCache: no network ---------------------------------------------------------------


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch):
    """Returns a function that points httpx (both env spellings) at a proxy and CA file."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)

    def point_at(proxy_url: str, ca_file: Path | None = None) -> None:
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        monkeypatch.setenv("https_proxy", proxy_url)
        if ca_file is not None:
            monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    return point_at


async def test_seeded_disk_cache_is_used_without_network(tmp_path: Path, signing, proxy_env) -> None:
    _key, cert, _pem = signing
    proxy_env(f"http://127.0.0.1:{free_port()}")
    sns_signing.seed_cert_cache(tmp_path)
    assert (tmp_path / "sns.us-east-1.amazonaws.com_SimpleNotificationService-alertdtest.pem").is_file()

    def no_client():
        raise AssertionError("a cached certificate must not be fetched")

    for factory in (None, no_client):
        cache = CertificateCache(tmp_path, client_factory=factory)
        assert await cache.get(TEST_CERT_URL) == cert
        assert await cache.get(TEST_CERT_URL) == cert


async def test_uncached_with_closed_proxy_is_unavailable(tmp_path: Path, proxy_env) -> None:
    proxy_env(f"http://127.0.0.1:{free_port()}")
    cache = CertificateCache(tmp_path, timeout=2)
    with pytest.raises(CertificateUnavailable) as info:
        await cache.get(TEST_CERT_URL)
    assert "ConnectError" in info.value.reason
    assert list(tmp_path.iterdir()) == []
    assert cache._locks == {}


async def test_silent_proxy_times_out(tmp_path: Path, proxy_env) -> None:
    # Accepts TCP (kernel backlog) but never answers the CONNECT.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        proxy_env(f"http://127.0.0.1:{silent.getsockname()[1]}")
        cache = CertificateCache(tmp_path, timeout=0.3)
        with trio.fail_after(5), pytest.raises(CertificateUnavailable):
            await cache.get(TEST_CERT_URL)


async def test_bad_url_is_signature_error_not_fetched(tmp_path: Path) -> None:
    def no_client():
        raise AssertionError("must not fetch an invalid URL")

    cache = CertificateCache(tmp_path, client_factory=no_client)
    with pytest.raises(SignatureError):
        await cache.get("https://evil.com/SimpleNotificationService-abc.pem")


def test_put_pem(tmp_path: Path, signing) -> None:
    _key, cert, pem = signing
    cache = CertificateCache(tmp_path / "certs")
    assert cache.put_pem(TEST_CERT_URL, pem) == cert
    assert (tmp_path / "certs" / cache_filename(TEST_CERT_URL)).read_bytes() == pem
    assert [p.name for p in (tmp_path / "certs").iterdir()] == [cache_filename(TEST_CERT_URL)]
    with pytest.raises(SignatureError):
        cache.put_pem("http://sns.us-east-1.amazonaws.com/x.pem", pem)
    with pytest.raises(ValueError):
        cache.put_pem(TEST_CERT_URL.replace("alertdtest", "other"), b"not a certificate")


async def test_memory_only_cache(signing) -> None:
    _key, cert, pem = signing
    cache = CertificateCache(None, client_factory=lambda: pytest.fail("no fetch expected"))
    cache.put_pem(TEST_CERT_URL, pem)
    assert await cache.get(TEST_CERT_URL) == cert


# --- CertificateCache: real fetch through a local CONNECT proxy and TLS server -----------------


@pytest.fixture
def fake_sns(tmp_path: Path, proxy_env) -> Iterator[FakeSNS]:
    state = start_fake_sns(tmp_path)
    proxy_env(state.proxy_url, state.ca_file)
    try:
        yield state
    finally:
        state.stop()


async def test_fetch_through_proxy_writes_disk_cache(tmp_path: Path, signing, fake_sns: FakeSNS) -> None:
    _key, cert, pem = signing
    fake_sns.routes[CERT_PATH] = (200, {"Content-Type": "application/x-x509-ca-cert"}, pem)
    cache_dir = tmp_path / "sns-certs"
    cache = CertificateCache(cache_dir)

    fetched = await cache.get(TEST_CERT_URL)
    assert fetched == cert
    assert fake_sns.connects == ["CONNECT sns.us-east-1.amazonaws.com:443"]
    assert fake_sns.requests == [("sns.us-east-1.amazonaws.com", CERT_PATH)]
    cached = cache_dir / "sns.us-east-1.amazonaws.com_SimpleNotificationService-alertdtest.pem"
    assert cached.read_bytes() == pem
    assert [p.name for p in cache_dir.iterdir()] == [cached.name]  # no temp files left behind
    verify_signature(sns_signing.notification({"x": 1}), fetched)

    # Memory hit on the same instance, disk hit on a fresh one; both with the server gone.
    fake_sns.stop()
    assert await cache.get(TEST_CERT_URL) == cert
    assert await CertificateCache(cache_dir).get(TEST_CERT_URL) == cert
    assert len(fake_sns.requests) == 1
    assert cache._locks == {}


async def test_concurrent_gets_fetch_once(tmp_path: Path, signing, fake_sns: FakeSNS) -> None:
    _key, cert, pem = signing
    fake_sns.routes[CERT_PATH] = (200, {}, pem)
    cache = CertificateCache(tmp_path)
    results: list[x509.Certificate] = []

    async def get() -> None:
        results.append(await cache.get(TEST_CERT_URL))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(get)
    assert results == [cert] * 5
    assert len(fake_sns.requests) == 1
    assert cache._locks == {}


async def test_corrupt_disk_cache_is_refetched(tmp_path: Path, signing, fake_sns: FakeSNS) -> None:
    _key, cert, pem = signing
    fake_sns.routes[CERT_PATH] = (200, {}, pem)
    (tmp_path / cache_filename(TEST_CERT_URL)).write_bytes(b"garbage")
    assert await CertificateCache(tmp_path).get(TEST_CERT_URL) == cert
    assert (tmp_path / cache_filename(TEST_CERT_URL)).read_bytes() == pem


@pytest.mark.parametrize(
    "status, headers, body, reason",
    [
        (404, {}, b"not found", "HTTP 404"),
        (500, {}, b"oops", "HTTP 500"),
        (302, {"Location": "https://evil.com/x.pem"}, b"", "HTTP 302"),
        (200, {}, b"x" * (64 * 1024 + 1), "larger than"),
        (200, {"X-No-Length": "1"}, b"x" * (200 * 1024), "larger than"),
        (200, {}, b"this is not a certificate", "PEM"),
        (200, {}, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM"),
    ],
)
async def test_bad_responses_are_unavailable(
    tmp_path: Path, fake_sns: FakeSNS, status: int, headers: dict, body: bytes, reason: str
) -> None:
    fake_sns.routes[CERT_PATH] = (status, headers, body)
    cache_dir = tmp_path / "cache"
    with pytest.raises(CertificateUnavailable, match=reason):
        await CertificateCache(cache_dir).get(TEST_CERT_URL)
    assert not cache_dir.exists()
    assert len(fake_sns.requests) == 1  # the redirect was not followed


async def test_untrusted_server_certificate_is_unavailable(
    tmp_path: Path, signing, fake_sns: FakeSNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without our test CA the TLS server is not trusted: never accept a certificate from it.
    _key, _cert, pem = signing
    fake_sns.routes[CERT_PATH] = (200, {}, pem)
    (tmp_path / "other").mkdir()
    other_ca, _c, _k = make_tls_ca_and_server(tmp_path / "other", "sns.us-east-1.amazonaws.com")
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    with pytest.raises(CertificateUnavailable):
        await CertificateCache(tmp_path / "cache").get(TEST_CERT_URL)
    assert fake_sns.requests == []


def test_signature_base64_roundtrip(signing) -> None:
    key, _cert, _pem = signing
    signed = sign_message(base_notification(), key, "2")
    assert len(base64.b64decode(signed["Signature"])) == 256


def test_the_cached_cert_url_check_still_tells_topics_and_urls_apart() -> None:
    """The check of a SigningCertURL is cached per (URL, topic): a URL good for one topic is
    still refused for a topic of another region, and a bad URL keeps its reason."""
    url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem"
    east, west = "arn:aws:sns:us-east-1:123456789012:alarms", "arn:aws:sns:eu-west-1:123456789012:alarms"
    for _ in range(2):  # the second round comes from the cache
        assert cert_url_problem(url, east) is None
        assert cert_url_problem(url, west) == "SigningCertURL is not on the SNS host of the topic's region eu-west-1"
        assert cert_url_problem(url.replace("https", "http"), east) == "SigningCertURL must use https"


def test_the_topic_and_url_caches_keep_no_long_strings() -> None:
    # They are filled before the signature is checked, from what anyone with the URL sends: a
    # string longer than any real ARN or certificate URL is answered, not kept.
    from alertd_aws_sns import signature

    topic = "arn:aws:sns:us-east-1:123456789012:" + "t" * 5000
    url = "https://sns.us-east-1.amazonaws.com/" + "c" * 5000 + ".pem"
    regions, problems = signature._topic_region.cache_info().currsize, signature._cert_url_problem.cache_info().currsize
    assert signature.topic_region(topic) == "us-east-1"
    assert signature.cert_url_problem(url, topic) is None
    assert signature._topic_region.cache_info().currsize == regions
    assert signature._cert_url_problem.cache_info().currsize == problems
    short = "arn:aws:sns:us-east-1:123456789012:alarms"
    assert signature.topic_region(short) == "us-east-1" and signature.topic_region(["not", "a", "str"]) is None
    assert signature._topic_region.cache_info().currsize >= min(regions + 1, 256)
