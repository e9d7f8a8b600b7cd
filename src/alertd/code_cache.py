"""``alertd run``'s cache of generated code: the source text that dataclasses, attrs and typing
compile again at every start.

Start-up builds some 160 classes with ``@dataclass`` and attrs (alertd's, trio's, hypercorn's,
h11's, pydantic's) and pydantic evaluates forward references: each is source text generated and
handed to ``compile``/``exec``, some 1,600 compilations that were a fifth of the CPU to ready.
``compile`` is a pure function of (source, filename, mode, flags) for one Python build, so this
keeps the code objects a start compiled, in ``marshal`` as ``.pyc`` files do, and the next start
takes the one compiled from the very same input; any other input is compiled as ever.

Only the name ``compile`` in ``typing`` and ``attr._make`` and ``exec`` in ``dataclasses`` is
redirected, from the start of ``alertd run`` until the cache is saved just after ready (then they
are the built-ins again). The file lives beside the validated config (config.validated_cache,
``code.marshal``), is read only if it is private to the daemon's user (alertd.private_files:
``marshal`` trusts its input), is bounded, and carries the interpreter's bytecode magic number:
another Python, a damaged or foreign file is ignored.
"""

from __future__ import annotations
import __future__

import builtins
import marshal
import re
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from alertd.private_files import read_private, write_private

FILE_NAME = "code.marshal"
_FORMAT = "alertd-code-cache/1"
MAX_BYTES = 32 * 1024 * 1024  # a start writes well under 1 MiB
MAX_ENTRIES = 20_000  # a start compiles some 1,600

Key = tuple[str, str, int, str]  # (mode, filename, flags, source)
_FEATURE = type(__future__.annotations)

_active: CodeCache | None = None

# attrs' generated ``__hash__`` puts ``hash(<a file name>)`` in its source as a number: a str hash,
# different in every process (hash randomisation), so its 30-odd classes missed at every start and
# the file was rewritten after each. Their source is kept with this number in its place, and the
# code taken has the process's own number put back (``_salted``).
_ATTRS_SALT = re.compile(r"(?<=hash\(\(\n)([ ]+)(-?\d+),\n")
SALT_PLACEHOLDER = 7_305_104_170_953_911_093  # a constant no generated source holds otherwise


def _header() -> tuple[str, bytes, str, int]:
    # compile()'s default optimize=-1 is the interpreter's -O level: asserts and __debug__ differ.
    return (_FORMAT, MAGIC_NUMBER, sys.version, sys.flags.optimize)


def future_flags(module: ModuleType) -> int:
    """The compiler flags a ``compile`` called from ``module``'s code inherits (its ``__future__`` imports)."""
    flags = 0
    for value in vars(module).values():
        if isinstance(value, _FEATURE):
            flags |= value.compiler_flag
    return flags


class CodeCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: dict[Key, CodeType] = {}
        self.used: dict[Key, CodeType] = {}  # what this start compiled or took: what the next keeps
        self.hits = 0
        self.misses = 0
        self._redirected: list[tuple[ModuleType, str]] = []
        self.finders: list[Any] = []

    def load(self) -> None:
        try:
            data = read_private(self.path, MAX_BYTES)
        except OSError:
            return
        if not data:
            return
        try:
            header, entries = marshal.loads(data)
            if header != _header():
                return
            known = {}
            for key, code in entries:
                mode, filename, flags, source = key
                if isinstance(code, CodeType) and isinstance(source, str) and isinstance(flags, int):
                    known[(mode, filename, flags, source)] = code
        except (EOFError, ValueError, TypeError):
            return
        self.known = known

    def compile(self, source: str, filename: str, mode: str, flags: int) -> CodeType:
        salt = None
        if filename.startswith("<attrs generated"):
            source, salt = _unsalted(source)
        code = self._compile(source, filename, mode, flags)
        return code if salt is None else _salted(code, salt)

    def _compile(self, source: str, filename: str, mode: str, flags: int) -> CodeType:
        key = (mode, filename, flags, source)
        code = self.known.get(key)
        if code is None:
            code = builtins.compile(source, filename, mode, flags, True)
            if not isinstance(code, CodeType):  # an AST (PyCF_ONLY_AST): mutable, and marshal refuses it
                return code
            self.known[key] = code
            self.misses += 1
        else:
            self.hits += 1
        if len(self.used) < MAX_ENTRIES:
            self.used[key] = code
        return code

    def redirect_compile(self, module: ModuleType) -> None:
        """``module``'s calls to ``compile`` with source text go through the cache. (Its future
        flags are read at the first call: the module may not have run its first line yet.)"""
        inherited: list[int] = []

        def compile(
            source: Any, filename: Any, mode: str, flags: int = 0, dont_inherit: bool = False, *args: Any, **kw: Any
        ) -> Any:
            if not inherited:
                inherited.append(future_flags(module))
            flags |= 0 if dont_inherit else inherited[0]
            if args or kw or not isinstance(source, str) or not isinstance(filename, str):
                return builtins.compile(source, filename, mode, flags, True, *args, **kw)
            return self.compile(source, filename, mode, flags)

        self._redirect(module, "compile", compile)

    def redirect_exec(self, module: ModuleType) -> None:
        """``module``'s ``exec`` of source text (with its globals given) goes through the cache."""
        inherited = future_flags(module)

        def exec(source: Any, globals: Any = None, locals: Any = None, /, **kw: Any) -> None:
            if globals is None:  # the caller's namespaces, as the built-in takes them
                caller = sys._getframe(1)
                globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
            if isinstance(source, str):  # compiled here with the caller's flags (not this module's)
                source = self.compile(source, "<string>", "exec", inherited)
            builtins.exec(source, globals, locals, **kw)

        self._redirect(module, "exec", exec)

    def _redirect(self, module: ModuleType, name: str, function: Any) -> None:
        if name in vars(module):  # the module defines the name itself: not ours to shadow
            return
        setattr(module, name, function)
        self._redirected.append((module, name))

    def restore(self) -> None:
        for finder in self.finders:  # a module never imported meanwhile
            if finder in sys.meta_path:
                sys.meta_path.remove(finder)
        self.finders.clear()
        for module, name in self._redirected:
            if name in vars(module):
                delattr(module, name)
        self._redirected.clear()

    def dump(self) -> bytes:
        return marshal.dumps((_header(), tuple(self.used.items())))


def _unsalted(source: str) -> tuple[str, int | None]:
    """``source`` with attrs' per-process hash salt replaced by ``SALT_PLACEHOLDER``, and the salt
    (None when there is none, or when it is not one number)."""
    salts = {int(match.group(2)) for match in _ATTRS_SALT.finditer(source)}
    if len(salts) != 1:
        return source, None
    return _ATTRS_SALT.sub(lambda m: f"{m.group(1)}{SALT_PLACEHOLDER},\n", source), salts.pop()


def _salted(code: CodeType, salt: int) -> CodeType:
    """``code`` (and the functions it defines) with ``SALT_PLACEHOLDER`` replaced by ``salt``: the
    code ``compile`` gives for the source with the salt written in (a literal is one constant)."""
    consts = tuple(
        salt if type(c) is int and c == SALT_PLACEHOLDER else _salted(c, salt) if isinstance(c, CodeType) else c
        for c in code.co_consts
    )
    return code.replace(co_consts=consts) if consts != code.co_consts else code


class _Preset:
    """A loader that runs ``preset(module)`` before the module's code (else as ``loader``)."""

    def __init__(self, loader: Any, preset: Any) -> None:
        self._loader = loader
        self._preset = preset

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._preset(module)
        self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code ... (tracebacks, inspect)
        return getattr(self._loader, name)


class _PresetFinder:
    """Finds ``name`` as the other finders do, its loader wrapped in ``_Preset`` (once)."""

    def __init__(self, name: str, preset: Any) -> None:
        self.name = name
        self.preset = preset

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Preset(spec.loader, self.preset)
        return spec


def install(directory: Path) -> CodeCache:
    """Start caching (``alertd run``, before the imports that build classes)."""
    global _active
    import dataclasses
    import typing

    cache = CodeCache(directory / FILE_NAME)
    cache.load()
    cache.redirect_exec(dataclasses)
    cache.redirect_compile(typing)
    # attrs' own classes are built while the attr package imports: its ``compile`` is redirected
    # before attr._make runs its first line (when it is not imported yet).
    if "attr._make" in sys.modules:
        cache.redirect_compile(sys.modules["attr._make"])
    else:
        cache.finders.append(_PresetFinder("attr._make", cache.redirect_compile))
        sys.meta_path.insert(0, cache.finders[-1])
    _active = cache
    return cache


def save_active() -> tuple[int, int] | None:
    """Stop redirecting and keep what this start compiled (just after ready); (hits, misses)."""
    global _active
    cache, _active = _active, None
    if cache is None:
        return None
    cache.restore()
    if cache.misses or len(cache.used) != len(cache.known):  # else the file holds exactly this
        try:
            write_private(cache.path, cache.dump(), ".code-")
        except OSError:
            pass  # an unwritable cache directory: the next start compiles, as without it
    return cache.hits, cache.misses
