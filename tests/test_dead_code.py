"""Issue 10 item 6: what nothing uses is gone, and comments name only hooks that are there.

A plugin comment saying "see alertd_startup" in a plugin that implements no such hook sent readers
looking for code that did not exist; the dead attributes below were written and never read."""

from __future__ import annotations

import dataclasses
import re

from alertd import hookspecs
from alertd.mapping import CompiledRuleset
from alertd.sdnotify import Notifier
from helpers import ROOT

HOOKS = {name for name in dir(hookspecs) if name.startswith("alertd_")}


def test_plugins_mention_only_hooks_they_implement() -> None:
    plugins = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "src").is_dir())
    assert len(plugins) >= 5
    for plugin in plugins:
        text = "\n".join(path.read_text() for path in sorted((plugin / "src").rglob("*.py")))
        implemented = set(re.findall(r"^def (alertd_\w+)\(", text, re.MULTILINE))
        mentioned = set(re.findall(r"\b(alertd_\w+)\b", text)) & HOOKS
        assert mentioned <= implemented, (plugin.name, sorted(mentioned - implemented))


def test_attributes_nothing_reads_are_gone() -> None:
    import alertd_aws_sns.signature as signature
    from alertd_twilio.channels import CHANNELS

    assert "paths" not in {f.name for f in dataclasses.fields(CompiledRuleset)}
    assert not any(hasattr(channel, "runtime") for channel in CHANNELS)
    assert not hasattr(signature, "_REGION_RE")
    assert not hasattr(Notifier, "enabled") and not hasattr(Notifier, "close")
