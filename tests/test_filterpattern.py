"""CloudWatch Logs filter patterns (issue 13 item 3), table-driven from AWS's documentation.

Sources, cited per case by section:
  OLD = "Filter and Pattern Syntax", CloudWatch Logs User Guide (awsdocs/amazon-cloudwatch-logs-user-guide,
        doc_source/FilterAndPatternSyntax.md), the same page as today's
  NEW = "Filter pattern syntax for metric filters, subscription filters, filter log events, and Live Tail"
        (docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html and its sub-page
        "Using filter patterns to match terms in unstructured log events").
"""

from __future__ import annotations

import pytest

from alertd.filterpattern import MAX_PATTERN_CHARS, FilterPatternError, compile_pattern

# OLD #metric-filter-examples ("JSON Metric Filter Examples"): the sample event.
JSON_EXAMPLE = {
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
    "SomeObject": None,
    "ThisFlag": True,
}
# OLD #compound-conditions ("JSON Compound Conditions"): the sample event.
COMPOUND_EXAMPLE = {
    "user": {"id": 1, "email": "John.Stiles@example.com"},
    "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
    "actions": ["GET", "PUT", "DELETE"],
    "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
}
# OLD #extract-log-event-values ("Using Metric Filters to Extract Values from Space-Delimited Log Events").
APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
    '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355',
]
APACHE_404 = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'
# OLD #log-filters-or-pattern-matching ("OR Pattern Matching"): the three events.
OR_EVENTS = ["ERROR WARN message", "ERROR message", "WARN message"]
# NEW "Using filter patterns to match terms in unstructured log events": the sample events.
UNSTRUCTURED = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
    "[ERROR 500] INTERNAL SERVER ERROR",
    "[INFO 200] SUCCESS",
]

# (section, pattern, events, indices of the events that match)
CASES = [
    # --- terms ---
    (
        "OLD #matching-terms-events Example 1",
        "ERROR",
        ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1", "[INFO] fine"],
        [0, 1],
    ),
    (
        "OLD #matching-terms-events Example 2",
        '"ERROR" - "Exiting"',
        ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1"],
        [0],
    ),
    (
        "OLD #matching-terms-events Example 3",
        "ERROR Exception",
        ["[ERROR] Caught IllegalArgumentException", "[ERROR] Unhandled Exception", "[ERROR] Unhandled"],
        [0, 1],
    ),
    (
        "OLD #matching-terms-events Example 3 (all terms)",
        "Failed to process the request",
        [
            "[WARN] Failed to process the request",
            "[ERROR] Unable to continue: Failed to process the request",
            "[WARN] Failed to process",
        ],
        [0, 1],
    ),
    ("OLD #log-filters-or-pattern-matching", "ERROR", OR_EVENTS, [0, 1]),
    ("OLD #log-filters-or-pattern-matching", "?ERROR ?WARN", OR_EVENTS, [0, 1, 2]),
    ("OLD #log-filters-or-pattern-matching", "ERROR WARN", OR_EVENTS, [0]),
    ("OLD #log-filters-or-pattern-matching", "ERROR -WARN", OR_EVENTS, [1]),
    ("NEW unstructured: single term", "ERROR", UNSTRUCTURED, [0, 1, 2, 3, 4]),
    ("NEW unstructured: multiple terms", "ERROR ARGUMENTS", UNSTRUCTURED, [2, 3]),
    ("NEW unstructured: OR terms", "?ERROR ?ARGUMENTS", UNSTRUCTURED, [0, 1, 2, 3, 4]),
    ("NEW unstructured: exact phrase", '"INTERNAL SERVER ERROR"', UNSTRUCTURED, [4]),
    ("NEW unstructured: include and exclude", "ERROR -ARGUMENTS", UNSTRUCTURED, [0, 1, 4]),
    ("NEW unstructured: match everything", "", UNSTRUCTURED, [0, 1, 2, 3, 4, 5]),
    ("NEW unstructured: match everything", " ", UNSTRUCTURED, [0, 1, 2, 3, 4, 5]),
    (
        "NEW #regex-expressions",
        "%AUTHORIZED%",
        ["[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST", "[INFO] ok"],
        [0, 1],
    ),
    # --- JSON ---
    ("OLD #metric-filter-examples", '{ $.eventType = "UpdateTrail" }', [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples", "{ $.sourceIPAddress != 123.123.* }", [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples", '{ $.arrayKey[0] = "value" }', [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples (arrayKey not an array: false)", '{ $.eventType[0] = "value" }', [JSON_EXAMPLE], []),
    ("OLD #metric-filter-examples", "{ $.objectList[1].id = 2 }", [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples", "{ $.SomeObject IS NULL }", [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples (only when set to null)", "{ $.SomeOtherObject IS NULL }", [JSON_EXAMPLE], []),
    ("OLD #metric-filter-examples", "{ $.SomeOtherObject NOT EXISTS }", [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples (exists: false)", "{ $.eventType NOT EXISTS }", [JSON_EXAMPLE], []),
    ("OLD #metric-filter-examples", "{ $.ThisFlag IS TRUE }", [JSON_EXAMPLE], [0]),
    ("OLD #metric-filter-examples (also for FALSE)", "{ $.ThisFlag IS FALSE }", [JSON_EXAMPLE], []),
    (
        "OLD #metric-filter-term-matching (*Event)",
        "{ $.e = *Event }",
        [{"e": "PutEvent"}, {"e": "GetEvent"}, {"e": "EventId"}],
        [0, 1],
    ),
    (
        "OLD #metric-filter-term-matching (Event*)",
        "{ $.e = Event* }",
        [{"e": "EventId"}, {"e": "EventName"}, {"e": "PutEvent"}],
        [0, 1],
    ),
    (
        "OLD #metric-filter-term-matching (Ev*ent is literal)",
        "{ $.e = Ev*ent }",
        [{"e": "Ev*ent"}, {"e": "Event"}, {"e": "EvXent"}],
        [0],
    ),
    ("OLD #log-filters-or-pattern-matching (JSON)", "{$.foo = bar}", [{"foo": "bar"}, {"foo": "baz"}], [0]),
    ("OLD #log-filters-or-pattern-matching (JSON)", "{$.foo = baz }", [{"foo": "bar"}, {"foo": "baz"}], [1]),
    (
        "OLD #log-filters-or-pattern-matching (JSON)",
        "{$.foo = bar || $.foo = baz }",
        [{"foo": "bar"}, {"foo": "baz"}],
        [0, 1],
    ),
    (
        "OLD #compound-conditions",
        '{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }',
        [COMPOUND_EXAMPLE],
        [0],
    ),
    (
        "OLD #compound-conditions",
        '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }',
        [COMPOUND_EXAMPLE],
        [],
    ),
    (
        "OLD #compound-conditions (&& binds tighter than ||)",
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }',
        [COMPOUND_EXAMPLE],
        [0],
    ),
    (
        "OLD #compound-conditions (parentheses first)",
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }',
        [COMPOUND_EXAMPLE],
        [],
    ),
    ("OLD JSON Special Considerations (selector on an array: never)", "{$.users = 1}", [{"users": [1, 2, 3]}], []),
    ("OLD JSON Special Considerations (selector on an array: never)", "{$.users != 1}", [{"users": [1, 2, 3]}], []),
    ("OLD Numeric Comparisons", "{ $.latency >= 500 }", [{"latency": 499}, {"latency": 500}, {"latency": 1e4}], [1, 2]),
    ("OLD Numeric Comparisons", "{ $.numbers[0] < 10e3 }", [{"numbers": [9999]}, {"numbers": [10000]}], [0]),
    ("OLD Numeric Comparisons", "{ $.numbers[0] < 10e-3 }", [{"numbers": [0.001]}, {"numbers": [0.01]}], [0]),
    (
        "OLD Numeric Comparisons",
        "{ $.processes[4].averageRuntime <= 55.5 }",
        [{"processes": [{}, {}, {}, {}, {"averageRuntime": 55.5}]}, {"processes": [{"averageRuntime": 1}]}],
        [0],
    ),
    ("OLD Numeric Comparisons", "{ $.errorCode = 400 }", [{"errorCode": 400}, {"errorCode": 500}], [0]),
    ("OLD Numeric Comparisons", "{ $.errorCode != 500 }", [{"errorCode": 400}, {"errorCode": 500}], [0]),
    ("OLD Numeric Comparisons", "{ $.latency > +1000 }", [{"latency": 1001}, {"latency": 1000}], [0]),
    ("OLD #publishing-values-found-in-logs (any value)", "{ $.latency = * }", [{"latency": 3}, {"other": 3}], [0]),
    (
        "samples/aws README: the seed metric filter",
        '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
        [
            {"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"},
            {"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Success"}},
            '{"eventName": "ConsoleLogin", "errorMessage": "Failed authentication"}',
            "not json",
        ],
        [0, 2],
    ),
    # --- space-delimited ---
    (
        "OLD #extract-log-event-values",
        "[ip, user, username, timestamp, request, status_code, bytes]",
        APACHE,
        [0, 1, 2],
    ),
    ("OLD #extract-log-event-values (ellipsis)", "[..., status_code, bytes]", APACHE, [0, 1, 2]),
    ("OLD #extract-log-event-values (ellipsis)", "[ip, user, ..., status_code, bytes]", APACHE, [0, 1, 2]),
    ("OLD #extract-log-event-values (ellipsis)", "[ip, user, ...]", APACHE, [0, 1, 2]),
    (
        "OLD #extract-log-event-values (conditions)",
        "[ip, user, username, timestamp, request, status_code, bytes > 1000]",
        [*APACHE, APACHE[0].replace(" 1534", " 999")],
        [0, 1, 2],
    ),
    (
        "OLD #extract-log-event-values (conditions)",
        "[ip, user, username, timestamp, request, status_code = 200, bytes]",
        APACHE,
        [0, 2],
    ),
    (
        "OLD #extract-log-event-values (conditions)",
        "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
        [*APACHE, APACHE_404],
        [3],
    ),
    (
        "OLD #extract-log-event-values (conditions)",
        "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
        [*APACHE, APACHE_404],
        [3],
    ),
    (
        "OLD #extract-log-event-values (&&)",
        "[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]",
        [APACHE_404, APACHE_404.replace(" 404 ", " 403 "), APACHE[1]],
        [0],
    ),
    (
        "OLD #extract-log-event-values (extracted fields example)",
        "[..., request=*.html*, status_code=4*,]",
        [APACHE_404, *APACHE],
        [0],
    ),
    ("OLD #log-filters-or-pattern-matching (space-delimited)", "[w1=ERROR, w2]", OR_EVENTS, [1]),
    ("OLD #log-filters-or-pattern-matching (space-delimited)", "[w1=ERROR || w1=WARN, w2]", OR_EVENTS, [1, 2]),
]


@pytest.mark.parametrize(("section", "pattern", "events", "expected"), CASES, ids=[c[1] or "(empty)" for c in CASES])
def test_documented_examples(section: str, pattern: str, events: list, expected: list[int]) -> None:
    compiled = compile_pattern(pattern)
    assert [i for i, event in enumerate(events) if compiled.matches(event)] == expected, section


# Patterns CloudWatch rejects: (pattern, 1-based character named in the error, words in it)
REJECTED = [
    ("{ $.a = }", 9, "expected a value"),
    ('{ $.a = "x" ', 13, "'}'"),
    ('{ $.a = "x" } trailing', 15, "nothing after"),
    ("{ a = 1 }", 3, "selector"),
    ("{ $.a > abc }", 9, "expected a number"),
    ("{ $.a IS MAYBE }", 10, "TRUE, FALSE or NULL"),
    ("{ $.a NOT THERE }", 11, "EXISTS"),
    ("{ $.a ~ 1 }", 7, "operator"),
    ('{ $.a = "open }', 9, "closing '\"'"),
    ("{ $[0] = 1 }", 3, "selector such as $.eventName"),
    ("{ ($.a = 1 }", 12, "')'"),
    ("{ $.a = user@example.com }", 13, "'}'"),
    ("ERROR:", 6, "quote terms"),
    ("?", 2, "expected a term"),
    ("[a, b", 6, "',' or ']'"),
    ("[a, b > x]", 9, "expected a number"),
    ("%a(b)%", 3, "no parentheses"),
    ("%unclosed", 1, "closing '%'"),
    ("{ $.a = %x% || $.b = %y% || $.c = %z% }", 35, "at most 2 regular expressions"),
]


@pytest.mark.parametrize(("pattern", "position", "words"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected_patterns_name_the_position(pattern: str, position: int, words: str) -> None:
    with pytest.raises(FilterPatternError) as caught:
        compile_pattern(pattern)
    assert caught.value.position + 1 == position, str(caught.value)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"at character {position}:")


def test_bounds_on_length_and_nesting() -> None:
    with pytest.raises(FilterPatternError, match="at most 1024 characters"):
        compile_pattern("A" * (MAX_PATTERN_CHARS + 1))
    with pytest.raises(FilterPatternError, match="levels of parentheses"):
        compile_pattern("{ " + "(" * 30 + "$.a = 1" + ")" * 30 + " }")
    # Events nested beyond the JSON limit do not match (and do not crash).
    assert not compile_pattern("{ $.a = 1 }").matches("[" * 100_000)
