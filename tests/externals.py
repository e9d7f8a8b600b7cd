"""Tests that need a program from Debian (Chromium, Alertmanager, PostgreSQL).

On a developer machine without the program, the test is skipped with one line that
says which Debian package enables it. CI (``.ci/run``) installs the packages and sets
``ALERTD_REQUIRE_EXTERNAL=1``: there a missing program fails the test instead, so a
broken install cannot turn into a green run of skipped tests.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ENV = "ALERTD_REQUIRE_EXTERNAL"


def require_program(candidates: list[str], package: str) -> str:
    """The path of the first program found among ``candidates`` (names or absolute paths).

    Skips (or, under ``ALERTD_REQUIRE_EXTERNAL=1``, fails) the calling test when none is.
    """
    for candidate in candidates:
        found = (
            shutil.which(candidate)
            if not os.path.isabs(candidate)
            else (candidate if os.access(candidate, os.X_OK) else None)
        )
        if found:
            return found
    message = (
        f"needs {' or '.join(candidates)}: run `apt-get install {package}` to enable "
        f"(CI installs it and sets {REQUIRE_ENV}=1)"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
