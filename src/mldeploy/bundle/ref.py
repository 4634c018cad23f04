"""Parse ``name@version`` and ``name:alias`` references; nothing else parses them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mldeploy.errors import BadReferenceError, ConfigError, shorten

__all__ = ["NAME_PATTERN", "BundleRef"]

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_.-]{0,99}"
"""A model name: never a path outside a folder, whatever it is joined to."""
_NAME = NAME_PATTERN
_ALIAS = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
_PATTERN = re.compile(rf"(?P<name>{_NAME})(?:@(?P<version>[0-9]{{1,9}})|:(?P<alias>{_ALIAS}))?")


@dataclass(frozen=True)
class BundleRef:
    """A reference to a bundle in a registry: a name plus a version, an alias, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> "BundleRef":
        """Parse ``salary@3``, ``salary:production`` or ``salary`` (the latest version)."""
        match = _PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match:
            raise BadReferenceError(
                f'"{shorten(text)}" is not a model reference: expected NAME@VERSION (salary@3), '
                "NAME:ALIAS (salary:production) or NAME; names start with a letter"
            )
        version = match["version"]
        return cls(match["name"], int(version) if version else None, match["alias"])

    @staticmethod
    def check_alias(alias: str) -> str:
        """Return ``alias`` if it is a valid alias name, else raise ConfigError."""
        if not isinstance(alias, str) or not re.fullmatch(_ALIAS, alias):
            raise ConfigError(f'"{shorten(alias)}" is not a valid alias: use a letter then letters, digits, "-" or "_" (e.g. production)')
        return alias

    @staticmethod
    def check_name(name: str) -> str:
        """Return ``name`` if it is a valid model name, else raise ConfigError."""
        if not isinstance(name, str) or not re.fullmatch(_NAME, name):
            raise ConfigError(f'"{shorten(name)}" is not a valid model name: use a letter then letters, digits, ".", "-" or "_"')
        return name

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}:{self.alias}" if self.alias else self.name
