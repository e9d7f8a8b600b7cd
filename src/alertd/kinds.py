"""What a contact kind looks like (a leaf: imports nothing of alertd).

The kinds themselves are declared by channel plugins (``Channel.kinds``): a user's contact
table may name any kind a loaded channel declares, and no other. Both the channel types and
the config models need the shape, so it lives here, below both.
"""

from __future__ import annotations

import re

KIND_RE = r"^[a-z][a-z0-9_-]*$"
MAX_KIND_CHARS = 32


def kind_problem(kind: object) -> str | None:
    """Why ``kind`` cannot be a contact kind, or None."""
    if not isinstance(kind, str) or len(kind) > MAX_KIND_CHARS or not re.fullmatch(KIND_RE, kind):
        return (
            f"contact kind {kind!r} is not a lower-case name matching {KIND_RE} of at most {MAX_KIND_CHARS} characters"
        )
    return None
