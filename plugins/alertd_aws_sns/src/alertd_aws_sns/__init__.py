"""alertd plugin: Amazon SNS inbound type (CloudWatch alarms, CloudTrail events via EventBridge).

Registered through the ``alertd`` entry point like any third-party plugin.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from alertd.plugin import hookimpl
from alertd_aws_sns.inbound_type import SnsInboundType

if TYPE_CHECKING:
    import click

__version__ = "0.1.0"

_INBOUND = SnsInboundType()


@hookimpl
def alertd_inbound_types() -> list[Any]:
    return [_INBOUND]


class _Store:
    """The CLI's store: the same writes, on a direct connection."""

    def __init__(self, db: Any) -> None:
        self.db = db

    async def write(self, fn: Any) -> Any:
        from alertd.plugin import write_transaction

        with write_transaction(self.db):
            return fn(self.db)


@hookimpl
def alertd_register_commands(cli: click.Group) -> None:
    import click  # (here: `alertd run` loads the plugins without click)

    from alertd.plugin import ROW_ID, config_option
    from alertd_aws_sns.cli_aws import register as register_aws

    register_aws(cli)

    @cli.group("sns")
    def sns() -> None:
        """Amazon SNS: subscription confirmation and signing certificates."""

    @sns.command("confirm")
    @config_option
    @click.argument("inbound_id", type=ROW_ID)
    @click.pass_obj
    def confirm(obj: Any, inbound_id: int) -> None:
        """Confirm the SNS subscription announced by inbound message INBOUND_ID.

        Fetches its SubscribeURL, which must be on the SNS host of the topic's region."""
        import trio

        from alertd.plugin import visible
        from alertd_aws_sns.confirm import ConfirmError, confirm_and_record, load_confirmation

        db = obj.open_store_db()
        try:
            integration, envelope = load_confirmation(db, obj.config, inbound_id)
        except LookupError as exc:
            raise click.ClickException(visible(exc)) from None
        try:
            arn = trio.run(confirm_and_record, _Store(db), integration, envelope, time.time, "cli")
        except ConfirmError as exc:
            raise click.ClickException(visible(exc)) from None
        # The topic and ARN come from SNS: shown with control characters escaped.
        shown = f"confirmed {envelope['TopicArn']} for integration {integration}: {arn or '(no ARN returned)'}"
        click.echo(visible(shown))

    @sns.command("seed-cert")
    @config_option
    @click.argument("url")
    @click.argument("pem_file", type=click.File("rb"))
    @click.pass_obj
    def seed_cert(obj: Any, url: str, pem_file: Any) -> None:
        """Put a signing certificate into the cache for hosts without outbound access."""
        from alertd_aws_sns.inbound_type import SnsSettings
        from alertd_aws_sns.signature import CertificateCache, SignatureError

        settings = obj.config.inbound_settings.get("aws_sns") or SnsSettings()
        cache = CertificateCache(obj.config.resolve_path(settings.cert_cache_dir))
        try:
            cache.put_pem(url, pem_file.read())
        except (SignatureError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"cached {url} in {cache.cache_path(url)}")


@hookimpl
def alertd_register_routes(runtime: Any) -> list[Any]:
    from quart import Blueprint

    from alertd.plugin import ApiError, api_doc, error, json_response, parse_id, requires_token
    from alertd_aws_sns.confirm import ConfirmError, confirm_and_record, load_confirmation

    bp = Blueprint("aws_sns", __name__, url_prefix="/api/v1/sns")

    @bp.post("/confirm/<inbound_ref>")
    @api_doc(
        "Confirm the SNS subscription of a stored Subscription Confirmation (fetches its SubscribeURL)",
        {
            200: ("the subscription confirmed", {"type": "object", "required": ["integration", "topic", "state"]}),
            404: ("no such message, or it is not a Subscription Confirmation", ApiError),
            502: ("AWS refused or could not be reached", ApiError),
        },
        path={"inbound_ref": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    )
    @requires_token(runtime)
    async def confirm(inbound_ref: str) -> Any:
        inbound_id = parse_id(inbound_ref)
        if inbound_id is None:
            return error(404, f"no inbound message #{inbound_ref[:40]}: ids are whole numbers from 1 to 2^63-1")
        try:
            integration, envelope = await runtime.store.read(
                lambda db: load_confirmation(db, runtime.config, inbound_id)
            )
        except LookupError as exc:
            return error(404, str(exc))
        try:
            arn = await confirm_and_record(runtime.store, integration, envelope, runtime.clock.now, via="api")
        except ConfirmError as exc:
            return error(502, str(exc))
        return json_response(
            {
                "integration": integration,
                "topic": envelope["TopicArn"],
                "state": "confirmed",
                "subscription_arn": arn,
            }
        )

    return [bp]
