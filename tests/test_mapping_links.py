"""A rule's url reaches email hrefs and push actions: only http(s) URLs pass (issue 9 item 12).

The channel edges (smtp, ntfy) check again: tests/test_channel_smtp.py, tests/test_channel_ntfy.py.
"""

from __future__ import annotations

import pytest

from alertd.mapping import RulesetConfig, compile_ruleset, decide


def rules(**spec: object) -> object:
    base = {"source_id": "id", "open_when": {"field": "id", "exists": True}}
    return compile_ruleset(RulesetConfig.model_validate({**base, **spec}))


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JAVASCRIPT:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "//evil.example/x",
        "https:///no-host",
    ],
)
def test_a_rule_url_that_is_not_http_is_dropped_with_a_reason(url: str) -> None:
    ruleset = rules(url="{{ link }}")
    decision = decide({"id": "a", "link": url}, ruleset, lambda _s: None)
    assert decision.outcome == "Mapped Open"
    assert decision.url == ""
    assert "url dropped: expected an http:// or https:// URL" in decision.reason


@pytest.mark.parametrize("url", ["https://console.aws.example/x?a=1#b", "HTTP://example.com", " http://h:8080/p "])
def test_http_urls_are_kept(url: str) -> None:
    decision = decide({"id": "a", "link": url}, rules(url="{{ link }}"), lambda _s: None)
    assert decision.url == url.strip() and decision.reason == ""
