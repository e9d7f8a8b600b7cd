"""alertd plugin: Twilio SMS and voice channels, with their reply, keypress and status webhooks.

Registered through the ``alertd`` entry point like any third-party plugin. Configure either
channel or both (each validates its own table with the same keys)::

    [channels.twilio_sms]
    account_sid = "AC..."
    auth_token = "..."
    from_number = "+15005550006"

    [channels.twilio_voice]      # same keys, plus voice, language, repeat, gather_timeout, ring_seconds
    ...

and set ``server.public_url`` to the address Twilio reaches this daemon at. In the Twilio
console, point the number's incoming-message webhook at ``<public_url>/twilio/sms/inbound``
(``alertd twilio webhooks`` prints the URLs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alertd.plugin import get_logger, hookimpl
from alertd_twilio.channels import CHANNELS, SMS_STATUS_PATH, VOICE_STATUS_PATH

if TYPE_CHECKING:
    import click

__version__ = "0.1.0"

log = get_logger("alertd.twilio")


@hookimpl
def alertd_channels() -> list[Any]:
    return list(CHANNELS)


@hookimpl
def alertd_startup(runtime: Any) -> None:
    configured = [c.name for c in CHANNELS if c.name in runtime.config.channels]
    if configured and not runtime.config.raw.server.public_url:
        log.warning(
            "twilio.no_public_url",
            channels=",".join(configured),
            url=runtime.config.public_url,
            hint="set server.public_url to the address Twilio reaches this daemon at",
        )


@hookimpl
def alertd_register_routes(runtime: Any) -> list[Any]:
    from alertd_twilio.routes import blueprint

    return [blueprint(runtime)]


def webhook_urls(public_url: str) -> dict[str, str]:
    return {
        "incoming SMS (configure on the Twilio number)": f"{public_url}/twilio/sms/inbound",
        "SMS status callback (sent with each SMS)": public_url + SMS_STATUS_PATH,
        "call TwiML (sent with each call)": f"{public_url}/twilio/voice/twiml/<notification id>",
        "call status callback (sent with each call)": public_url + VOICE_STATUS_PATH,
    }


@hookimpl
def alertd_register_commands(cli: click.Group) -> None:
    import click  # (here: `alertd run` loads the plugins without click)

    from alertd.plugin import config_option

    @cli.group("twilio")
    def twilio() -> None:
        """Twilio SMS and voice channels."""

    @twilio.command("webhooks")
    @config_option
    @click.pass_obj
    def webhooks(obj: Any) -> None:
        """Print the webhook URLs Twilio must reach (from server.public_url)."""
        config = obj.config
        configured = [c.name for c in CHANNELS if c.name in config.channels]
        if not configured:
            raise click.ClickException("neither [channels.twilio_sms] nor [channels.twilio_voice] is configured")
        if not config.raw.server.public_url:
            click.echo(f"warning: server.public_url is not set; using {config.public_url}", err=True)
        for label, url in webhook_urls(config.public_url).items():
            click.echo(f"{label}: {url}")
