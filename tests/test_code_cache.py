"""``alertd run``'s cache of generated code (alertd.code_cache): a hit is the code ``compile`` gives
for the same input, the file is read only if private and of this Python, and a restart reuses it."""

from __future__ import annotations
import __future__

import dataclasses
import marshal
import os
import types
from pathlib import Path

import pytest

from alertd import code_cache
from alertd.config import validated_cache
from helpers import DaemonProcess, wait_until, write_config


def fake_module(name: str, future_annotations: bool) -> types.ModuleType:
    module = types.ModuleType(name)
    if future_annotations:  # what `from __future__ import annotations` binds
        module.annotations = __future__.annotations
    return module


def same_code(a: types.CodeType, b: types.CodeType) -> bool:
    return (a.co_code, a.co_consts, a.co_names, a.co_flags, a.co_filename) == (
        b.co_code,
        b.co_consts,
        b.co_names,
        b.co_flags,
        b.co_filename,
    )


@pytest.mark.parametrize("future_annotations", [False, True])
def test_a_redirected_compile_gives_what_compile_gives_with_the_callers_future_flags(
    tmp_path: Path, future_annotations: bool
) -> None:
    source = "def f(x: int) -> int:\n    return x + 1\n"
    module = fake_module("fake_attrs", future_annotations)
    cache = code_cache.CodeCache(tmp_path / "code.marshal")
    cache.redirect_compile(module)
    got = module.compile(source, "<generated f>", "exec")
    flags = __future__.annotations.compiler_flag if future_annotations else 0
    want = compile(source, "<generated f>", "exec", flags, True)
    assert same_code(got, want)
    namespace: dict[str, object] = {}
    exec(got, namespace)
    assert namespace["f"].__annotations__["x"] == ("int" if future_annotations else int)
    assert module.compile(source, "<generated f>", "exec") is got  # the second time, from the cache
    assert (cache.hits, cache.misses) == (1, 1)
    cache.restore()
    assert "compile" not in vars(module)


def test_a_compile_to_an_ast_is_not_kept(tmp_path: Path) -> None:
    # An AST is no code object: each call gets its own (the caller may change it), and the file is
    # still written (marshal refuses an AST: the save just after ready would raise).
    import ast

    cache = code_cache.CodeCache(tmp_path / "code.marshal")
    module = fake_module("m", False)
    cache.redirect_compile(module)
    first = module.compile("a = 1\n", "<m>", "exec", ast.PyCF_ONLY_AST)
    assert isinstance(first, ast.Module)
    assert module.compile("a = 1\n", "<m>", "exec", ast.PyCF_ONLY_AST) is not first
    module.compile("b = 2\n", "<m>", "exec")
    cache.restore()
    assert len(marshal.loads(cache.dump())[1]) == 1


def test_a_dataclass_built_through_the_cache_behaves_as_any(tmp_path: Path) -> None:
    cache = code_cache.CodeCache(tmp_path / "code.marshal")
    cache.redirect_exec(dataclasses)
    try:

        @dataclasses.dataclass(frozen=True)
        class Point:
            x: int
            y: int = 2

    finally:
        cache.restore()
    assert "exec" not in vars(dataclasses)
    assert cache.misses > 0
    assert Point(1) == Point(1, 2) and repr(Point(1)).endswith("Point(x=1, y=2)")
    assert Point.__init__.__annotations__ == {"x": "int", "y": "int", "return": None}  # this file's are strings
    with pytest.raises(dataclasses.FrozenInstanceError):
        Point(1).x = 3  # type: ignore[misc]


def make_entry(tmp_path: Path) -> Path:
    first = code_cache.CodeCache(tmp_path / "code.marshal")
    module = fake_module("m", False)
    first.redirect_compile(module)
    module.compile("a = 1\n", "<m>", "exec")
    first.restore()
    first.path.parent.mkdir(mode=0o700, exist_ok=True)
    first.path.write_bytes(first.dump())
    first.path.chmod(0o600)
    return first.path


def test_the_next_start_takes_the_code_from_the_file(tmp_path: Path) -> None:
    path = make_entry(tmp_path)
    second = code_cache.CodeCache(path)
    second.load()
    module = fake_module("m", False)
    second.redirect_compile(module)
    namespace: dict[str, object] = {}
    exec(module.compile("a = 1\n", "<m>", "exec"), namespace)
    assert namespace["a"] == 1 and (second.hits, second.misses) == (1, 0)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.chmod(0o666),  # others could have written it: marshal trusts its input
        lambda path: path.write_bytes(b"\x00garbage"),
        lambda path: path.write_bytes(path.read_bytes()[:-20]),  # cut short
        lambda path: path.write_bytes(marshal.dumps((("alertd-code-cache/1", b"\x00\x00\r\n", "2.7"), ()))),
        lambda path: path.write_bytes(marshal.dumps([1, 2, 3])),
    ],
    ids=["writable-by-others", "garbage", "truncated", "another-python", "another-shape"],
)
def test_a_file_that_is_not_ours_and_whole_is_ignored(tmp_path: Path, damage) -> None:
    path = make_entry(tmp_path)
    damage(path)
    cache = code_cache.CodeCache(path)
    cache.load()
    assert cache.known == {}
    module = fake_module("m", False)
    cache.redirect_compile(module)
    namespace: dict[str, object] = {}
    exec(module.compile("a = 1\n", "<m>", "exec"), namespace)  # compiled as ever
    assert namespace["a"] == 1 and cache.misses == 1


OPTIMIZED_PROBE = """
import sys, types
from pathlib import Path
from alertd import code_cache
cache = code_cache.CodeCache(Path(sys.argv[1]))
cache.load()
module = types.ModuleType("m")
cache.redirect_compile(module)
exec(module.compile("assert False\\n", "<m>", "exec"), {})
print("asserts off", cache.hits, cache.misses)
"""


def test_code_compiled_without_o_is_not_reused_under_o(tmp_path: Path) -> None:
    # compile()'s optimize=-1 means the interpreter's -O level: `python -O` drops asserts.
    import subprocess
    import sys

    first = code_cache.CodeCache(tmp_path / "code.marshal")
    module = fake_module("m", False)
    first.redirect_compile(module)
    with pytest.raises(AssertionError):
        exec(module.compile("assert False\n", "<m>", "exec"), {})
    first.restore()
    first.path.write_bytes(first.dump())
    first.path.chmod(0o600)
    os.chmod(tmp_path, 0o700)
    probe = subprocess.run(
        [sys.executable, "-O", "-c", OPTIMIZED_PROBE, str(first.path)], capture_output=True, text=True, timeout=60
    )
    assert probe.stdout.strip() == "asserts off 0 1", probe.stderr


PEOPLE = """
[users.alice]
contact = { email = "alice@example.com" }
[integrations.alarms]
type = "aws_sns"
[integrations.alarms.options]
topic_arns = ["arn:aws:sns:us-east-1:123456789012:alarms"]
"""


def test_a_restart_reuses_the_code_the_first_start_compiled(tmp_path: Path) -> None:
    path = write_config(tmp_path, PEOPLE)
    env = {validated_cache.ENV_DIR: str(tmp_path / "cache")}
    daemon = DaemonProcess(path, env=env).start()
    try:
        first = daemon.wait_for("event=startup.code_cache")
        assert int(first.split("compiled=")[1].split()[0]) > 500  # nothing kept yet
        entry = tmp_path / "cache" / code_cache.FILE_NAME
        wait_until(entry.exists, what="the code cache written after ready")
        assert oct(entry.stat().st_mode & 0o777) == oct(0o600)
        written = entry.stat().st_mtime_ns
        assert daemon.stop() == 0
        daemon.start()
        assert daemon.get("/readyz").status_code == 200
        second = daemon.wait_for("event=startup.code_cache")
        reused = int(second.split("reused=")[1].split()[0])
        compiled = int(second.split("compiled=")[1].split()[0])
        # All of it, attrs' __hash__ too (its source holds a number that differs in every process):
        # the file already holds exactly this start's code, so it is not written again.
        assert reused > 500 and compiled == 0, second
        assert entry.stat().st_mtime_ns == written
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert os.path.getsize(entry) < code_cache.MAX_BYTES


def test_attrs_hash_salt_differs_per_process_and_the_code_is_still_reused(tmp_path: Path) -> None:
    cache = code_cache.CodeCache(tmp_path / code_cache.FILE_NAME)
    name = "<attrs generated __hash__ tests.Thing>"

    def source(salt: int) -> str:  # as attrs writes it (attr._make._make_hash)
        lines = ["def __hash__(self):", "        return hash((", f"                {salt},", "                self.x,"]
        return "\n".join([*lines, "            ))"])

    thing = types.SimpleNamespace(x=5)
    for salt in (8500649897956314049, -3985610820023775380, 12):
        namespace: dict = {}
        exec(cache.compile(source(salt), name, "exec", 0), namespace)
        assert namespace["__hash__"](thing) == hash((salt, 5))
    assert (cache.misses, cache.hits) == (1, 2)


ATTRS_PROBE = """
import inspect, sys
from pathlib import Path
from alertd import code_cache
assert "attr" not in sys.modules
cache = code_cache.install(Path(sys.argv[1]))
import attr
assert "compile" in vars(attr._make) and "def attrs" in inspect.getsource(attr._make)
misses = cache.misses
code_cache.save_active()
assert "compile" not in vars(attr._make) and not any(type(f).__name__ == "_PresetFinder" for f in sys.meta_path)
print(misses)
"""


def test_attrs_own_classes_compile_through_the_cache_when_attr_is_imported_after(tmp_path: Path) -> None:
    import subprocess
    import sys

    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    runs = [
        subprocess.run([sys.executable, "-c", ATTRS_PROBE, str(directory)], capture_output=True, text=True, timeout=60)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    first, second = (int(r.stdout) for r in runs)
    assert first > 20 and second <= first - 10  # (those with a __hash__ embed a per-process seed)
