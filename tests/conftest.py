import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# Fixtures of a PostgreSQL server started by the tests (tests/postgres.py).
pytest_plugins = ["postgres"]
