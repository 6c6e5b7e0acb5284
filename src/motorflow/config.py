"""Config dataclasses from parsed YAML: one rule for every stage and model.

Every ``XConfig.from_mapping`` calls :func:`config_from_mapping`, so a null, a list or a
nested section means the same in every part of ``config/config.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C")

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def close_match(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely misspells (difflib ratio >= 0.75), or None."""
    found = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.75)
    return found[0] if found else None


def unknown_keys_message(unknown: Iterable[str], known: Iterable[str], what: str) -> str:
    """The error text for ``unknown`` keys, each with the known one it likely misspells."""
    known = sorted(str(k) for k in known)
    parts = []
    for key in sorted(map(str, unknown)):
        guess = close_match(key, known)
        parts.append(f"{key!r}" + (f" (did you mean {guess!r}?)" if guess else ""))
    return f"unknown {what} {', '.join(parts)}; allowed: {', '.join(known)}"


def check_sections(config: Mapping[str, Any], schema_path: str | Path | None = None) -> None:
    """Refuse top-level sections the workflow does not know, naming the likely intended one
    (a misspelt ``modles:`` would otherwise be ignored and its defaults run)."""
    with open(schema_path or SCHEMA) as fh:
        known = yaml.safe_load(fh)["properties"]
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise ValueError("config: " + unknown_keys_message(unknown, known, "section"))


def _nested(field: dataclasses.Field) -> type | None:
    """The config class of a nested section (its default, or its default factory)."""
    if hasattr(field.default, "from_mapping"):
        return type(field.default)
    factory = field.default_factory
    if isinstance(factory, type) and hasattr(factory, "from_mapping"):
        return factory
    return None


def config_from_mapping(cls: type[C], mapping: Mapping[str, Any] | None, section: str) -> C:
    """Build the dataclass ``cls`` from a parsed YAML mapping.

    ``None`` (for the mapping or a value) means "use the default", YAML lists become tuples
    (the dataclasses are frozen and hashable), nested configs may be given as mappings, and
    unknown keys fail loudly, naming them, so a typo never silently runs the default.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        raise ValueError(f"{section} options must be a mapping; got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping or {}) - set(fields))
    if unknown:
        raise ValueError(unknown_keys_message(unknown, fields, f"{section} option"))
    values: dict[str, Any] = {}
    for key, value in (mapping or {}).items():
        if value is None:
            continue
        nested = _nested(fields[key])
        if nested is not None and isinstance(value, Mapping):
            value = nested.from_mapping(value)
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def wrapper_from_mapping(
    cls: type[C], mapping: Mapping[str, Any] | None, section: str, inner: str = "net"
) -> C:
    """A training config that wraps its network's config (the field ``inner``) from one flat
    section: the keys of the wrapper's other fields are its own, every other key is the
    network's (read by the network config's ``from_mapping``, which refuses unknown ones)."""
    if mapping is not None and not isinstance(mapping, Mapping):
        raise ValueError(f"{section} options must be a mapping; got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    network = _nested(fields[inner])
    if network is None:
        raise TypeError(f"{cls.__name__}.{inner} is not a nested config")
    own = {k: v for k, v in (mapping or {}).items() if k in fields and k != inner}
    rest = {k: v for k, v in (mapping or {}).items() if k not in own}
    return config_from_mapping(cls, {**own, inner: network.from_mapping(rest)}, section)
