import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Fixtures of a PostgreSQL server started by the tests (tests/postgres.py).
pytest_plugins = ["postgres"]

from helpers import STARTED  # noqa: E402  (after the sys.path line above)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test's report carries the stderr of the daemons it started (every run of each)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and STARTED:
        report.sections.append(("daemon logs", "\n".join(d.log_text() for d in STARTED)))
    if call.when == "teardown":  # a module-scoped daemon still running stays listed
        STARTED[:] = [d for d in STARTED if d.proc is not None and d.proc.poll() is None]
