"""The resolved config: the validated file plus what its plugins made of their tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from alertd.config.models import IntegrationConfig, RawConfig
from alertd.config.problems import Problem

if TYPE_CHECKING:
    from alertd.mapping import CompiledRuleset


@dataclass
class Integration:
    name: str
    config: IntegrationConfig
    inbound_type: Any
    options: BaseModel
    ruleset: CompiledRuleset
    ruleset_name: str


@dataclass
class Config:
    path: Path
    raw: RawConfig
    integrations: dict[str, Integration] = field(default_factory=dict)
    inbound_settings: dict[str, BaseModel] = field(default_factory=dict)
    channels: dict[str, tuple[Any, BaseModel]] = field(default_factory=dict)
    channel_for_kind: dict[str, str] = field(default_factory=dict)
    # Every channel plugin installed that could serve each contact kind (for hints).
    channel_kinds: dict[str, list[str]] = field(default_factory=dict)
    # Contact kinds whose channel declares ``closure_notices = False`` (the configured channel, or
    # when none is, every installed channel that declares the kind).
    quiet_kinds: frozenset[str] = frozenset()
    # Things that are valid but probably not meant (printed by check-config, logged at start).
    warnings: list[Problem] = field(default_factory=list)
    # Whether the validated tree came from config.validated_cache (logged at start).
    from_cache: bool = False
    # A start from the cache works the warnings out when it logs them, just after ready (log_warnings).
    warnings_later: Callable[[], list[Problem]] | None = field(default=None, repr=False, compare=False)

    def sends_closure_notices(self, kind: str) -> bool:
        """Whether people reached on ``kind`` are told when the alert closes."""
        return kind not in self.quiet_kinds

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve_path(self, value: Path) -> Path:
        """Relative paths in the config are relative to the config file's directory."""
        return value if value.is_absolute() else (self.base_dir / value)

    @property
    def db_path(self) -> Path:
        return self.resolve_path(self.raw.store.path)

    @property
    def public_url(self) -> str:
        if self.raw.server.public_url:
            return self.raw.server.public_url.rstrip("/")
        return f"http://{self.raw.server.listen}"


@dataclass
class CheckedConfig:
    """The result of checking a whole file: what is valid, every error and every warning."""

    config: Config  # built from the valid entries only when there are errors
    errors: list[Problem]
    warnings: list[Problem]
    # Key paths left out because they were invalid: a top-level key ("store") or an entry ("users.bob").
    left_out: set[str]
