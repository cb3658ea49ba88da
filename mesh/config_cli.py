"""`vod config`: every setting in force, per component, with where it came from.

Each component reads its settings through one `load_settings(env)` function (the services'
`config.py`, the launcher's `load_local_settings`, the runtime's tracing settings). This module
calls those same functions (no copy of any default lives here) with the environment the
component would get under `vod up`: the caller's environment plus what the launcher sets
(addresses, database and NATS URLs, per-deployment secrets). The source of each setting is found
by taking the variables away one at a time and seeing which settings change:

- `default`: no variable changes it;
- `env VOD_X`: the caller's environment sets VOD_X;
- `vod up VOD_X`: the launcher sets VOD_X for that component;
- `file var/secrets/x`: a per-deployment secret the launcher reads from the data directory.

Secrets (names with secret, password, token, master or private key in them, and passwords inside
URLs) are masked: only their length is shown. Nothing is created: a secret that does not exist
yet is reported as `(generated on first vod up)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh.launcher import DATABASE, LocalMesh
from mesh.local import LocalSettings, load_local_settings
from mesh.services import SERVICES, ServiceEntry

__all__ = ["Setting", "collect", "mask", "register"]

_SECRET_NAME = re.compile(r"secret|password|passwd|token|master_keys|private|credential", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?P<tail>@)")
_NOT_YET = "(generated on first vod up)"


@dataclass(frozen=True)
class Setting:
    component: str
    name: str
    """Dotted path of the field in the component's settings object (`runtime.grpc_address`)."""
    value: str
    source: str


class _Recording(Mapping[str, str]):
    """A read-only environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def mask(name: str, value: str) -> str:
    """`value` fit to print: secrets by name show only their length, URL passwords are starred."""
    if not value:
        return value
    if _SECRET_NAME.search(name):
        return f"****** ({len(value)} chars)"
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}******{m['tail']}", value)


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            if field.name.startswith("_"):
                continue
            name = f"{prefix}.{field.name}" if prefix else field.name
            yield from _flatten(name, getattr(value, field.name))
    else:
        yield prefix, value


def _text(value: Any) -> str:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple | list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _load_or_none(load: Callable[[Mapping[str, str]], Any], env: Mapping[str, str]) -> Any:
    try:
        return dict(_flatten("", load(env)))
    except (Exception, SystemExit):  # noqa: BLE001 - a required variable is missing
        return None


def _attribute(
    component: str,
    load: Callable[[Mapping[str, str]], Any],
    env: Mapping[str, str],
    origin: Callable[[str], str],
    replacements: Mapping[str, Callable[[], str]] | None = None,
) -> list[Setting]:
    """The settings `load` builds from `env`, each with the variable it came from: the settings
    that change when the variable is taken away (or, for a required secret, replaced by another
    of the same shape), else the settings whose value is the variable's text."""
    replacements = replacements or {}
    recording = _Recording(env)
    fields = dict(_flatten("", load(recording)))
    sources: dict[str, str] = {}
    read = sorted(v for v in recording.read if v in env)
    for variable in read:
        changed = _load_or_none(load, {k: v for k, v in env.items() if k != variable})
        if changed is None and variable in replacements:
            changed = _load_or_none(load, {**env, variable: replacements[variable]()})
        for name, value in fields.items():
            if name in sources:
                continue
            if changed is not None and changed.get(name, object()) != value:
                sources[name] = origin(variable)
    for variable in read:  # same value as the default (e.g. the launcher's port = the default)
        for name, value in fields.items():
            if name not in sources and _text(value) == env[variable] and env[variable]:
                sources[name] = origin(variable)
    return [
        Setting(component, name, mask(name, _text(value)), sources.get(name, "default"))
        for name, value in fields.items()
    ]


class _DryMesh(LocalMesh):
    """The launcher's view of the environment, without starting or creating anything."""

    def __init__(self, settings: LocalSettings) -> None:
        super().__init__(settings)
        s = settings
        self.database_url = s.external_database_url or (
            f"postgresql://{s.host}:{s.postgres_port}/{DATABASE}"
        )
        self.nats_url = s.external_nats_url or f"nats://{s.host}:{s.nats_port}"
        self.missing: set[str] = set()

    def secret(self, variable: str) -> str:
        """The secret's file when it exists; otherwise a throwaway value of the right shape (so
        the service's settings still load), reported as not created yet."""
        name = variable.removeprefix("VOD_").lower()
        path = self.settings.home / "secrets" / name
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        self.missing.add(variable)
        return _fresh_secret(variable)


def _fresh_secret(variable: str) -> str:
    """A new value of the shape `variable` takes (never stored)."""
    if variable == "VOD_LICENSING_MASTER_KEYS":
        from services.licensing.envelope import MasterKeyRing, format_master_keys, new_master_key

        return format_master_keys(MasterKeyRing((new_master_key(),)))
    return secrets.token_urlsafe(32)


def _service_loader(entry: ServiceEntry) -> Callable[[Mapping[str, str]], Any] | None:
    try:
        module = importlib.import_module(f"{entry.module}.config")
    except ModuleNotFoundError:
        return None
    return getattr(module, "load_settings", None)


def collect(env: Mapping[str, str] | None = None) -> list[Setting]:
    """Every setting of the launcher, tracing and each service, as `vod up` would run them."""
    env = dict(os.environ if env is None else env)
    local = load_local_settings(env)
    mesh = _DryMesh(local)
    secret_files = {
        variable: f"file {local.home / 'secrets' / variable.removeprefix('VOD_').lower()}"
        for entry in SERVICES
        for variable in entry.secrets
    }

    def from_caller(variable: str) -> str:
        return f"env {variable}"

    out = _attribute("vod up", lambda e: load_local_settings(e), env, from_caller)
    from services.runtime.tracing import load_tracing_settings

    out += _attribute("tracing", load_tracing_settings, env, from_caller)
    for entry in SERVICES:
        load = _service_loader(entry)
        if load is None:
            continue
        service_env = mesh.service_env(entry, base=env)

        def origin(variable: str, service_env: Mapping[str, str] = service_env) -> str:
            if variable in secret_files and variable not in env:
                if variable in mesh.missing:
                    return f"{secret_files[variable]} {_NOT_YET}"
                return secret_files[variable]
            if variable in env and env[variable] == service_env.get(variable):
                return f"env {variable}"
            return f"vod up {variable}"

        replacements = {v: (lambda v=v: _fresh_secret(v)) for v in entry.secrets}
        out += _attribute(entry.name, load, service_env, origin, replacements)
    return out


def cmd_config(args: argparse.Namespace) -> int:
    settings = collect()
    if args.component:
        known = sorted({s.component for s in settings})
        settings = [s for s in settings if s.component == args.component]
        if not settings:
            print(f"vod config: no component {args.component!r}; known: {', '.join(known)}")
            return 2
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in settings], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("component", "setting", "value", "source")
    for s in settings:
        table.add_row(s.component, s.name, s.value, s.source)
    Console(width=200).print(table)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "config",
        help="every setting in force and where it came from (secrets masked)",
        description=(
            "Print each component's settings as `vod up` would start it, with the source of each "
            "value: default, env VOD_X (your environment), vod up VOD_X (set by the launcher) or "
            "file var/secrets/x. Examples: `vod config`, `vod config catalog`, `vod config --json`."
        ),
    )
    parser.add_argument("component", nargs="?", help="only this component (e.g. catalog)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_config)
