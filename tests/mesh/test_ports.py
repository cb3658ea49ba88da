"""Ports are written once (`services.runtime.ports`): a service started on its own, with no
address in its environment, listens where `vod up` would put it and looks for its neighbours
where `vod up` puts them."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import pytest

from mesh.launcher import LocalMesh
from mesh.local import load_local_settings
from mesh.services import SERVICES, ServiceEntry
from services.runtime import ports

_ADDRESS_VARIABLES = ("_ADDRESS", "_URL", "_GRPC")
# Deployment choices, not ports: which regions exist, where data and secrets live.
_NOT_LAYOUT = {"VOD_EDGE_URLS", "VOD_DATABASE_URL", "VOD_NATS_URL"}
# Integrations that are off unless configured (the service runs without them).
_OFF_UNLESS_SET = {
    ("transcoding", "catalog_address"),  # the upload's title check
    ("transcoding", "origin_public_url"),  # media URLs in job results
    ("gateway", "experiments"),  # A/B assignments on the home feed
}


def _load(entry: ServiceEntry, env: dict[str, str]) -> Any:
    return importlib.import_module(f"{entry.module}.config").load_settings(env)


def _layout_env(launcher: LocalMesh, entry: ServiceEntry) -> dict[str, str]:
    env = launcher.service_env(entry, base={})
    return {
        k: v
        for k, v in env.items()
        if k.endswith(_ADDRESS_VARIABLES) and k not in _NOT_LAYOUT and k.startswith("VOD_")
    }


@pytest.mark.parametrize("entry", SERVICES, ids=[e.name for e in SERVICES])
def test_a_service_alone_finds_the_mesh_layout(entry: ServiceEntry, tmp_path: Path) -> None:
    launcher = LocalMesh(load_local_settings({}, home=str(tmp_path)))
    env = launcher.service_env(entry, base={})
    base = {"VOD_HOME": str(tmp_path), **{k: env[k] for k in entry.secrets}}
    alone = _load(entry, base)
    layout = _layout_env(launcher, entry)
    under_vod_up = _load(entry, {**base, **layout})
    assert f"VOD_{entry.name.upper()}_GRPC_ADDRESS" in layout
    differences = {
        f.name: (getattr(alone, f.name), getattr(under_vod_up, f.name))
        for f in dataclasses.fields(alone)
        if getattr(alone, f.name) != getattr(under_vod_up, f.name)
        and (entry.name, f.name) not in _OFF_UNLESS_SET
    }
    assert differences == {}
    assert alone.runtime.grpc_address == f"127.0.0.1:{50051 + ports.SERVICE_OFFSETS[entry.name]}"


def test_every_listener_has_one_port() -> None:
    taken = [ports.GRPC_BASE_PORT + o for o in ports.SERVICE_OFFSETS.values()]
    taken += [ports.METRICS_BASE_PORT + o for o in ports.SERVICE_OFFSETS.values()]
    taken += [ports.HTTP_BASE_PORT + o for o in ports.HTTP_OFFSETS.values()]
    taken += [ports.FRONT_PORT, ports.EDGE_BASE_PORT]
    assert len(taken) == len(set(taken))
    assert {e.name for e in SERVICES} == set(ports.SERVICE_OFFSETS)
    assert {x.name for e in SERVICES for x in e.http} == set(ports.HTTP_OFFSETS)


# Settings whose value without the environment is derived, not the field's default: data folders
# under VOD_HOME, the one-region edge list, and what a secret or the launcher supplies.
_DERIVED = {"data_dir", "object_store_dir", "scratch_dir", "model_dir", "edges", "runtime"}


@pytest.mark.parametrize("entry", SERVICES, ids=[e.name for e in SERVICES])
def test_defaults_are_written_once(entry: ServiceEntry, tmp_path: Path) -> None:
    """With nothing in the environment, every setting is its settings class's default: the
    loader takes its fallbacks from the class, so the two cannot drift apart."""
    launcher = LocalMesh(load_local_settings({}, home=str(tmp_path)))
    env = launcher.service_env(entry, base={})
    loaded = _load(entry, {k: env[k] for k in entry.secrets})
    secrets_fed = {name.removeprefix("VOD_").lower() for name in entry.secrets}
    drifted = {
        f.name: (getattr(loaded, f.name), f.default)
        for f in dataclasses.fields(loaded)
        if f.default is not dataclasses.MISSING
        and f.name not in _DERIVED
        and not any(f.name.startswith(s.split("_")[0]) and "secret" in f.name for s in secrets_fed)
        and getattr(loaded, f.name) != f.default
    }
    assert drifted == {}
