"""The default ruleset of the alertmanager inbound type (same syntax as [integrations.NAME.rules]).

It addresses the document the plugin makes of each alert (or, with ``one_alert_per = "group"``, of
each notification): ``key``, ``status``, ``labels``, ``annotations``, ``generatorURL``, plus
the notification's ``groupKey``, ``receiver``, ``groupLabels``, ``commonLabels``,
``commonAnnotations`` and ``externalURL``.
"""

from __future__ import annotations

from typing import Any

# Labels that most setups carry, each its own field; ``labels`` holds every label.
LABEL_FIELDS = ("alertname", "instance", "job", "namespace", "service", "cluster", "severity")

ALERTMANAGER: dict[str, Any] = {
    "source_id": "key",
    "open_when": {"field": "status", "equals": "firing"},
    "close_when": {"field": "status", "equals": "resolved"},
    "title": "{{ annotations.summary or labels.alertname or key }}",
    "description": "{{ annotations.description or '' }}",
    "severity": "{{ labels.severity or 'critical' }}",
    "url": "{{ generatorURL or '' }}",
    "tags": ["alertmanager", "{{ labels.alertname }}"],
    "fields": {
        **{name: "{{ labels['" + name + "'] }}" for name in LABEL_FIELDS},
        "labels": "{% for k, v in labels | dictsort %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}",
        "receiver": "{{ receiver }}",
        "startsAt": "{{ startsAt }}",
    },
}

RULESETS: dict[str, dict[str, Any]] = {"alertmanager": ALERTMANAGER}
DEFAULT_RULESET = "alertmanager"
