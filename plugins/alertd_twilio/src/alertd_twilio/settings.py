"""The settings of ``[channels.twilio_sms]`` and ``[channels.twilio_voice]`` (one model for both)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

E164 = r"^\+[1-9]\d{6,14}$"


class TwilioSettings(BaseModel):
    """One Twilio account and number. Both channels take the same keys; the voice keys
    (``voice``, ``language``, ``repeat``, ``gather_timeout``, ``ring_seconds``) only matter
    to ``twilio_voice``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    # The Twilio number (or verified caller id) that sends the SMS and places the calls.
    from_number: str = Field(pattern=E164)
    # None: Twilio's real API (https://api.twilio.com). Tests point it at a fake server.
    api_base_url: str | None = Field(None, pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    # Ask Twilio for delivery reports (POST /twilio/status/sms|voice on server.public_url).
    status_callbacks: bool = True
    # How many API requests this channel runs at once.
    concurrency: int = Field(4, ge=1, le=64)
    # HTTP timeout of one API request; below the outbox's 60 s limit for a whole send.
    timeout_seconds: float = Field(20, gt=0, le=50)

    # --- voice -------------------------------------------------------------------
    # Text-to-speech voice of <Say> ("Polly.Joanna", "alice", "man", "woman" ...).
    voice: str = "Polly.Joanna"
    language: str = "en-US"
    # How many times the call reads the alert before giving up.
    repeat: int = Field(2, ge=1, le=10)
    # Seconds <Gather> waits for a key after the last reading.
    gather_timeout: int = Field(8, ge=1, le=60)
    # Seconds to let the phone ring; short enough to hang up before voicemail answers.
    ring_seconds: int = Field(25, ge=5, le=600)

    @field_validator("auth_token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("expected the account's Auth Token")
        return value
