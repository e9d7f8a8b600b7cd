"""The CLI keeps the config's checked tables between calls (config.quick_cache): served only for
the same bytes (a digest of the whole file, never its size or time) and the same code; an edit,
a bad file, a damaged or foreign entry all mean the file is read as before, with today's errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

import alertd
from alertd.config import quick_cache, quick_tables
from alertd.config.problems import ConfigError
from alertd.config.quick_schedules import read_schedule_tables
from alertd.config.quick_tables import read_store_and_users
from alertd.private_files import ENV_DIR
from helpers import run_cli, write_config

PEOPLE = """
[users.alice]
full_name = "Alice A"
contact = { email = "alice@example.com" }

[schedules.primary]
timezone = "Europe/Berlin"
[[schedules.primary.layers]]
users = ["alice"]
"""


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files parsed (TOML) from now on."""
    seen: list[Path] = []
    real = quick_tables.parse_source

    def parse(path: Path, source: bytes):  # type: ignore[no-untyped-def]
        seen.append(path)
        return real(path, source)

    monkeypatch.setattr(quick_tables, "parse_source", parse)
    return seen


def entry(path: Path, tables: str = "store,users") -> Path:
    return quick_cache.entry_path(path.absolute(), tables)


def test_the_same_bytes_are_served_without_parsing(tmp_path: Path, parses: list[Path]) -> None:
    path = write_config(tmp_path, PEOPLE)
    first = read_store_and_users(path)
    assert parses == [path.absolute()]
    again = read_store_and_users(path)
    assert parses == [path.absolute()]  # not parsed again
    assert again == first and again.db_path == tmp_path / "alertd.db"
    assert again.raw.users["alice"].full_name == "Alice A"
    schedules = read_schedule_tables(path)  # oncall's tables: an entry of their own
    assert read_schedule_tables(path) == schedules and len(parses) == 2
    assert schedules.raw.schedules["primary"].timezone == "Europe/Berlin"


def test_an_edit_is_never_served_stale_even_with_the_same_size_and_time(tmp_path: Path, parses: list[Path]) -> None:
    path = write_config(tmp_path, PEOPLE)
    read_store_and_users(path)
    read_schedule_tables(path)
    st = path.stat()
    path.write_text(path.read_text().replace("Alice A", "Alice B").replace("Europe/Berlin", "Europe/Zurich"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: only the bytes differ
    assert path.stat().st_size == st.st_size
    assert read_store_and_users(path).raw.users["alice"].full_name == "Alice B"
    assert read_schedule_tables(path).raw.schedules["primary"].timezone == "Europe/Zurich"
    assert len(parses) == 4


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("[store]\n", "[store]\nbusy_timeout_seconds = 0\n"), "store.busy_timeout_seconds"),
        (lambda text: text + "\n[store\n", "TOML syntax error"),
    ],
    ids=["bad-value", "bad-syntax"],
)
def test_a_file_made_invalid_gives_the_same_error_as_without_a_cache(tmp_path: Path, edit, message: str) -> None:
    path = write_config(tmp_path, PEOPLE)
    ok = run_cli("alerts", "-c", str(path))
    assert ok.returncode == 0, ok.stderr
    assert entry(path).exists()
    path.write_text(edit(path.read_text()))
    cached = run_cli("alerts", "-c", str(path))
    fresh = run_cli("alerts", "-c", str(path), env={ENV_DIR: str(tmp_path / "empty-cache")})
    assert cached.returncode == fresh.returncode == 2
    assert message in cached.stderr and cached.stderr == fresh.stderr
    assert "Traceback" not in cached.stderr
    with pytest.raises(ConfigError):  # and nothing of it was kept
        read_store_and_users(path)


def test_the_cli_follows_an_edit_to_another_database(tmp_path: Path) -> None:
    path = write_config(tmp_path, PEOPLE)
    assert run_cli("alerts", "-c", str(path)).returncode == 0  # kept: [store] path = alertd.db
    (tmp_path / "other").mkdir()
    path.write_text(path.read_text().replace(str(tmp_path / "alertd.db"), str(tmp_path / "other" / "new.db")))
    result = run_cli("alerts", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "other" / "new.db").exists()


def test_a_file_the_models_must_judge_is_not_kept(tmp_path: Path, parses: list[Path]) -> None:
    # "5" for a number: quick_tables leaves it to the models (which accept it); nothing is kept.
    path = write_config(tmp_path, PEOPLE)
    path.write_text(path.read_text().replace("[store]\n", '[store]\nbusy_timeout_seconds = "5"\n'))
    assert read_store_and_users(path).raw.store.busy_timeout_seconds == 5
    assert not entry(path).exists()
    read_store_and_users(path)
    assert len(parses) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e.write_bytes(b"not a pickle at all"),
        lambda e: e.write_bytes(e.read_bytes()[: e.stat().st_size // 2]),
        lambda e: e.write_bytes(b""),
        lambda e: e.write_bytes(pickle.dumps(("alertd-quick-tables/1", "x"))),
        lambda e: e.write_bytes(pickle.dumps({"some": "dict"})),
    ],
    ids=["garbage", "truncated", "empty", "wrong-shape", "wrong-type"],
)
def test_a_damaged_entry_means_the_file_is_read(tmp_path: Path, parses: list[Path], damage) -> None:
    path = write_config(tmp_path, PEOPLE)
    first = read_store_and_users(path)
    damage(entry(path))
    assert read_store_and_users(path) == first  # no exception, no output
    assert len(parses) == 2
    assert read_store_and_users(path) == first and len(parses) == 2  # and the entry is good again


def test_other_code_makes_the_entry_stale(tmp_path: Path, parses: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, PEOPLE)
    read_store_and_users(path)
    monkeypatch.setattr(alertd, "__version__", "99.0")
    read_store_and_users(path)
    assert len(parses) == 2
    read_store_and_users(path)
    assert len(parses) == 2
    # The checking code's files changed (an upgrade in place): a copy of the package's, touched.
    package = Path(alertd.__file__).parent
    for name in quick_cache._CODE:
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_bytes((package / name).read_bytes())
    monkeypatch.setattr(alertd, "__file__", str(tmp_path / "pkg" / "__init__.py"))
    read_store_and_users(path)
    read_store_and_users(path)
    assert len(parses) == 3
    for name in quick_cache._CODE:
        os.utime(tmp_path / "pkg" / name, ns=(0, 10**18))
        read_store_and_users(path)
        os.utime(tmp_path / "pkg" / name, ns=(0, 10**18 + 1))
    assert len(parses) == 3 + len(quick_cache._CODE)


@pytest.mark.parametrize(
    "expose",
    [
        lambda e: e.parent.chmod(0o777),
        lambda e: e.parent.chmod(0o770),
        lambda e: e.chmod(0o666),
        lambda e: os.chown(e.parent, 65534, 65534),
        lambda e: os.chown(e, 65534, 65534),
    ],
    ids=["dir-world-writable", "dir-group-writable", "entry-writable", "dir-other-owner", "entry-other-owner"],
)
def test_an_entry_another_user_could_have_written_is_never_unpickled(
    tmp_path: Path, parses: list[Path], monkeypatch: pytest.MonkeyPatch, expose
) -> None:
    path = write_config(tmp_path, PEOPLE)
    read_store_and_users(path)
    if os.geteuid() != 0 and "chown" in expose.__code__.co_names:
        pytest.skip("changing a file's owner needs root")
    loaded: list[bytes] = []
    real_loads = quick_cache.loads
    monkeypatch.setattr(quick_cache, "loads", lambda data: loaded.append(data) or real_loads(data))
    expose(entry(path))
    assert read_store_and_users(path).raw.users["alice"].full_name == "Alice A"
    assert loaded == [] and len(parses) == 2  # read from the file, nothing unpickled


def test_the_entry_is_private_and_entries_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quick_cache, "MAX_ENTRIES", 2)
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "shared"))
    paths = []
    for n in range(4):
        folder = tmp_path / f"c{n}"
        folder.mkdir()
        paths.append(write_config(folder, PEOPLE))
        read_store_and_users(paths[-1])
        stamp = 10**18 + n * 10**9  # each later than the one before (and than none written now)
        os.utime(entry(paths[-1]), ns=(stamp, stamp))
    assert entry(paths[0]).parent == tmp_path / "shared"
    assert entry(paths[3]).stat().st_mode & 0o777 == 0o600  # it holds the file's secrets
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o700
    (tmp_path / "shared" / ".cli-left.tmp").write_bytes(b"killed writer")
    os.utime(tmp_path / "shared" / ".cli-left.tmp", (0, 0))
    entry(paths[0]).unlink(missing_ok=True)
    read_store_and_users(paths[0])  # written again: the two oldest others go, and the leftover
    kept = sorted(p.name for p in (tmp_path / "shared").iterdir())
    assert kept == sorted(entry(p).name for p in (paths[0], paths[3]))


def test_an_unwritable_cache_directory_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(ENV_DIR, str(blocker / "cache"))  # a directory under a file
    path = write_config(tmp_path, PEOPLE)
    assert read_store_and_users(path).raw.users["alice"].full_name == "Alice A"
    assert read_store_and_users(path).raw.users["alice"].full_name == "Alice A"
