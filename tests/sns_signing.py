"""Sign SNS envelopes with a test key, for every test that talks SNS to alertd.

The key and its self-signed certificate stand in for Amazon's; a daemon under test
trusts them because the certificate is pre-seeded in its certificate cache
(``seed_cert_cache``), so no test ever fetches from AWS.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from helpers import ROOT, SAMPLES

sys.path.insert(0, str(ROOT / "plugins" / "alertd_aws_sns" / "src"))

from alertd_aws_sns.signature import (
    cache_filename,
    sns_host_for_topic,
    string_to_sign,
)

TEST_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-alertdtest.pem"
DEFAULT_TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudtrail-alarms"
# Same subscription id as the samples in tests/samples/aws.
SUBSCRIPTION_ID = "c9135db0-26c4-47ec-8998-413945fb5a96"

_KEY: rsa.RSAPrivateKey | None = None
_CERTS: dict[str, tuple[x509.Certificate, bytes]] = {}


def _key() -> rsa.RSAPrivateKey:
    # 2048-bit RSA keygen takes a noticeable moment; do it once per test session.
    global _KEY
    if _KEY is None:
        _KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEY


def make_test_ca_and_signing_cert(
    common_name: str = "sns.amazonaws.com",
) -> tuple[rsa.RSAPrivateKey, x509.Certificate, bytes]:
    """(private key, self-signed certificate, its PEM), valid from yesterday for 30 days."""
    key = _key()
    if common_name not in _CERTS:
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        _CERTS[common_name] = (cert, cert.public_bytes(serialization.Encoding.PEM))
    cert, pem = _CERTS[common_name]
    return key, cert, pem


def sign_message(message: dict[str, Any], key: rsa.RSAPrivateKey | None = None, version: str = "1") -> dict:
    """A copy of ``message`` with SignatureVersion and a base64 Signature over its string to sign."""
    key = key or _key()
    signed = dict(message)
    signed["SignatureVersion"] = version
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}[version]
    signature = key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode("ascii")
    return signed


def seed_cert_cache(cache_dir: Path, url: str = TEST_CERT_URL) -> None:
    """Put the test signing certificate where CertificateCache looks before fetching."""
    *_, pem = make_test_ca_and_signing_cert()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / cache_filename(url)).write_bytes(pem)


def _timestamp(when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _host(topic: str) -> str:
    host = sns_host_for_topic(topic)
    if host is None:
        raise ValueError(f"not an SNS topic ARN: {topic}")
    return host


def notification(
    message: dict | str,
    *,
    message_id: str | None = None,
    topic: str = DEFAULT_TOPIC,
    subject: str | None = None,
    timestamp: str | None = None,
    version: str = "1",
) -> dict:
    """A signed SNS Notification envelope, as SNS POSTs it to an HTTPS subscriber."""
    envelope = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": json.dumps(message) if isinstance(message, dict) else message,
        "Timestamp": timestamp or _timestamp(),
        "SigningCertURL": TEST_CERT_URL,
        "UnsubscribeURL": (f"https://{_host(topic)}/?Action=Unsubscribe&SubscriptionArn={topic}:{SUBSCRIPTION_ID}"),
    }
    if subject is not None:
        envelope["Subject"] = subject
    return sign_message(envelope, version=version)


def subscription_confirmation(
    *,
    message_id: str | None = None,
    topic: str = DEFAULT_TOPIC,
    token: str | None = None,
    timestamp: str | None = None,
    subscribe_url: str | None = None,
    message_type: str = "SubscriptionConfirmation",
    version: str = "1",
) -> dict:
    """A signed SubscriptionConfirmation (or, with message_type, UnsubscribeConfirmation)."""
    token = token or uuid.uuid4().hex * 2
    if message_type == "SubscriptionConfirmation":
        text = (
            f"You have chosen to subscribe to the topic {topic}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        )
    else:
        text = (
            f"You have chosen to deactivate subscription {topic}:{SUBSCRIPTION_ID}.\n"
            "To cancel this operation and restore the subscription, visit the SubscribeURL "
            "included in this message."
        )
    envelope = {
        "Type": message_type,
        "MessageId": message_id or str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic,
        "Message": text,
        "SubscribeURL": subscribe_url
        or f"https://{_host(topic)}/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}",
        "Timestamp": timestamp or _timestamp(),
        "SigningCertURL": TEST_CERT_URL,
    }
    return sign_message(envelope, version=version)


def unsubscribe_confirmation(**kwargs: Any) -> dict:
    return subscription_confirmation(message_type="UnsubscribeConfirmation", **kwargs)


def headers_for(envelope: dict) -> dict[str, str]:
    """The HTTP headers SNS sends with ``envelope``."""
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": envelope["Type"],
        "x-amz-sns-message-id": envelope["MessageId"],
        "x-amz-sns-topic-arn": envelope["TopicArn"],
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    if envelope["Type"] == "Notification":
        headers["x-amz-sns-subscription-arn"] = f"{envelope['TopicArn']}:{SUBSCRIPTION_ID}"
    return headers


def sample_envelope(path: str | Path) -> tuple[dict, dict]:
    """(headers, body) of a file in tests/samples/aws (a bare name is looked up there)."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = SAMPLES / path
    data = json.loads(path.read_text())
    return data["headers"], data["body"]


def signed_sample(path: str | Path, version: str = "1") -> tuple[dict, dict]:
    """A sample envelope re-pointed at TEST_CERT_URL and signed with the test key."""
    headers, body = sample_envelope(path)
    body = sign_message({**body, "SigningCertURL": TEST_CERT_URL}, version=version)
    return headers, body
