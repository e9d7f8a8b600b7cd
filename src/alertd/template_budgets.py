"""The templates' size and time budgets, apart from alertd.sandbox so that reading them imports no jinja2
(rule templates rendered directly, alertd.rule_templates, need them before jinja2 is loaded)."""

# Far above any message a sender may post (server.max_body_bytes), far below what hurts.
MAX_VALUE_CHARS = 4 * 1024 * 1024
# A rule field (title, description, url, tag, field): enough for any description a person reads.
RULE_MAX_CHARS = 64 * 1024
RULE_SECONDS = 1.0
