"""alertd's plugin hooks.

A plugin is a module (or object) with functions named like the hooks below,
decorated with ``alertd.plugin.hookimpl``. A plugin imports from alertd only
``alertd.plugin`` (the plugin API). Ship it as a distribution with an entry
point in the ``alertd`` group::

    [project.entry-points.alertd]
    my_plugin = "my_plugin"

or drop a ``.py`` file into the directory named by ``plugins_dir`` in
``alertd.toml``. The built-in plugins under ``plugins/`` are written exactly
this way. ``alertd plugins`` lists what is loaded and which hooks each
implements.

Hooks are called synchronously. Where a hook needs to do I/O, it returns an
object whose ``async`` methods alertd awaits at the right time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from alertd.channels import Channel
    from alertd.inbound import InboundType
    from alertd.runtime import Runtime
    from alertd.timeline import AlertEvent

hookspec = pluggy.HookspecMarker("alertd")


@hookspec
def alertd_inbound_types() -> list[InboundType]:
    """Return the inbound types this plugin provides.

    An inbound type turns one HTTP request to an integration's secret URL
    (``POST /in/{token}``) into an :class:`alertd.inbound.InboundMessage`, or a
    :class:`alertd.inbound.Rejection` with an HTTP status and a reason. It
    declares:

    - ``name``: what ``type = "..."`` in an ``[integrations.*]`` table names;
    - ``options_model``: a pydantic model validating that integration's
      ``options`` table (unknown keys are errors);
    - ``settings_model``: optional pydantic model for the global table
      ``[inbound.<name>]``;
    - ``rulesets``: named default rulesets (dicts in the same syntax as an
      integration's ``[integrations.*.rules]``), and ``default_ruleset``;
    - ``async handle(request, integration, runtime)``: verify and unwrap.
      Called before anything is stored; it must not change state. Whatever it
      returns is written to the inbound log before the sender gets a 2xx;
      an :class:`alertd.inbound.InboundBatch` (several alerts in one request)
      gets one inbound-log row and decision per message, all in one commit;
    - ``async after_commit(message, integration, runtime)``: optional; called
      after the inbound log row is committed (e.g. to confirm a subscription),
      in a task of its own; with ``after_commit_for`` (a tuple of
      ``InboundMessage.message_type`` values), only for messages of those types;
    - ``warm_up(runtime)``: optional; an ingest worker calls it before it
      takes requests, to import or load now what ``handle`` would on first use;
    - ``stored_header_prefixes``: optional tuple of lower-case header-name
      prefixes whose values the inbound log keeps (SNS: ``("x-amz-sns-",)``);
      other headers beyond a small allow-list are stored by name only;
    - source handshakes (the source's side of the link, e.g. an SNS topic's
      subscription): a message announcing one carries
      ``InboundMessage.handshake = Handshake(key, state, detail)``, stored with
      its inbound-log row; ``set_handshake_state`` changes it later (inside a
      write); optional ``describe_handshake(row) -> (label, text)`` says how
      ``alertd integrations`` shows a stored row (default: key, state and the
      announcing row). Keys, states and details are bounded (alertd.handshakes);
    - ``sample_message(data, integration)``: unwrap a sample file or a plain
      body without checking signatures, for ``alertd test-integration``;
    - ``async confirm_subscription(runtime, inbound_id, via)``: optional; confirm
      the subscription announced by a logged ``Subscription Confirmation`` (the web
      console's Confirm button, for admins); returns (topic, subscription id),
      raises LookupError (not such a row) or ValueError (confirming failed).

    Names must be unique across all plugins.
    """


@hookspec
def alertd_channels() -> list[Channel]:
    """Return the outbound channels this plugin provides.

    A channel delivers notifications for one or more contact-method kinds
    (``email``, ``sms``, ``voice``, ``push``, ``webhook`` ...). It declares
    ``name`` (its table ``[channels.<name>]`` in ``alertd.toml``),
    ``kinds`` (the contact-method kinds it serves: lower-case names such as
    ``slack``; a user's ``contact`` table may name any kind a loaded channel
    declares, there is no other list), ``config_model`` (a pydantic
    model validating its table), ``concurrency`` (how many sends may run at
    once; a ``concurrency`` key in its table overrides it), and
    ``async send(notification, settings, runtime) -> DeliveryResult``, where
    ``settings`` is the validated instance of ``config_model``. Optional:
    ``closure_notices`` (a bool, default True); False means the channel is never
    used to tell people an alert closed (a phone call at night to say all is well).
    A channel that gets later delivery reports from its provider translates them
    into ``alertd.plugin.DeliveryState`` and calls ``report_delivery_status``.
    ``send`` is retried by the outbox when it returns a retryable failure or
    raises; it receives the notification's idempotency key so that a retry after
    a crash can be recognised by the provider where the provider supports it.
    A channel configured in ``alertd.toml`` is enabled; one that is not is idle.
    A notification may be about no alert (a schedule workflow's handoff notice):
    then ``alert_id`` is None, ``alert`` is empty and ``message`` is the whole text
    (its first line is ``subject``); offer no acknowledge/close for it.
    """


@hookspec
def alertd_alert_event(event: AlertEvent, runtime: Runtime) -> None:
    """Called for every committed change to an alert, in timeline order.

    The event dispatcher reads the ``alert_events`` rows (written in the same
    transaction as the change) after commit, whoever wrote them: the daemon, or
    the ``alertd`` CLI acting with the daemon down or in another process (those
    are picked up within a second or so).

    Delivery is **at least once**: the dispatcher's cursor advances only after
    the hooks returned, so a process killed in between calls the hook again
    after restart for the same events. ``event.id`` (the row id, increasing)
    lets a plugin deduplicate. Events from before the database first ran an
    alertd with the dispatcher are not replayed.

    ``event`` carries the alert id, the alert row as it is at dispatch time
    (``event.alert``: id, integration, status, title, fields ...), ``at``,
    ``actor`` (who or what: an integration, a user, ``escalation``, ``outbox``),
    ``via`` (the path: source, rule, api, cli, link, sms, voice, email, engine,
    a channel name), ``detail`` (kind-specific), and ``kind``, one of
    (``alertd.timeline.EventKind``):

    - ``opened``: a source opened a new alert;
    - ``reopened``: a source fired again after its alert closed (a new alert,
      ``detail.previous_alert_id``);
    - ``appended``: a source repeated itself on an open alert (``detail.append_count``:
      the repeats so far);
    - ``acknowledged``: someone or a rule acknowledged it (escalation stops);
    - ``ack_repeated``: acknowledged again (no change of state);
    - ``closed``: closed by a source, a rule or a person;
    - ``escalated``: an escalation level fired (``detail.users``);
    - ``level_skipped``: a level reached nobody and was skipped;
    - ``escalation_stopped``: the plan stopped (its policy no longer exists);
    - ``escalation_exhausted``: the last level of the last pass fired while the
      alert was still unacknowledged: its policy pages nobody more (written with
      that level's ``escalated``; ``detail.passes``, ``detail.policy``). The alert
      stays open; a workflow may page someone else;
    - ``notified``: a channel accepted a notification;
    - ``notification_retry_scheduled``: a send failed in a way worth retrying;
      the next attempt is queued (``detail.attempt``: attempts so far,
      ``detail.next_attempt_at``, ``detail.error``, ``detail.notification``);
    - ``notification_delivered``: the provider reported a sent notification
      delivered (a status callback; ``detail.notification``, ``detail.kind``);
    - ``notification_failed``: a notification failed for good;
    - ``notification_failover``: the user is tried on their next contact method;
    - ``notification_exhausted``: no contact method is left for that user;
    - ``owners_paged``: an alert without an escalation policy paged its owners
      (the integration's or route's ``recipients``; ``detail.users``);
    - ``maintenance_suppressed``: opened during a maintenance window, so not paged
      (``detail.window_id``, ``detail.window``, ``detail.ends_at``);
    - ``maintenance_ended``: that window ended (``detail.on_end``: ``page``, the
      escalation starts now; ``quiet``, it stays stopped).
    - ``snoozed``: acknowledged until ``detail.until`` (then ``unacknowledged``
      with ``actor`` ``snooze`` and escalation from the first level);
    - ``unacknowledged``: open again (escalation starts from its first level);
    - ``escalation_requested``: someone asked to escalate now (``detail.level``,
      0-based, fires next; an ``escalated`` event follows);
    - ``reassigned``: switched to another escalation policy (``detail.policy``,
      ``detail.previous``);
    - ``note_added``: a note (``detail.text``);
    - ``merged``: this alert was merged into another (``detail.into``; it is then
      closed, and later messages for its source id append to that one);
    - ``duplicate_merged``: another alert was merged into this one
      (``detail.duplicate``);
    - ``workflow_action``: a workflow ran one action on the alert
      (``detail.workflow``, ``detail.action``, ``detail.outcome``); changes the
      action made are events of their own with ``actor`` ``workflow:<name>``.

    Use it for workflows and extensions. It must not block: start background
    work with ``runtime.spawn(async_fn, *args)``. Exceptions are logged and do
    not affect the alert (nor the other plugins).
    """


@hookspec
def alertd_startup(runtime: Runtime) -> Any:
    """Called once when the daemon has loaded its config and opened its store.

    May return an async function; it is started as a task in the daemon's
    nursery (a background loop of the plugin's own) and cancelled at shutdown.
    """


@hookspec
def alertd_register_routes(runtime: Runtime) -> list[Any]:
    """Return extra HTTP routes, as quart ``Blueprint`` objects.

    Used by channels for their reply webhooks (an SMS reply, a voice keypress).
    Routes share the daemon's HTTP server; they must authenticate their callers
    themselves (provider signatures, signed links). A route under ``/api/v1``
    describes itself for ``/api/v1/openapi.json`` with ``alertd.plugin.api_doc``
    (tests/test_openapi.py fails for one that does not).
    """


@hookspec
def alertd_register_commands(cli: click.Group) -> None:
    """Add click commands to the ``alertd`` command line.

    ``cli`` is the top-level group; add commands or subgroups with
    ``cli.add_command(...)``. Commands get the loaded configuration from the
    click context object (``ctx.obj.config``). Called when the CLI loads the
    plugins: for a command name no built-in command has (so ``alertd <yours>``
    works), or a command that uses plugins; ``alertd --help`` and the built-in
    read and act commands load none, so they do not list or see yours.
    """
