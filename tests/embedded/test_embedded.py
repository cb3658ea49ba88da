"""Real embedded servers: PostgreSQL, NATS JetStream and Envoy survive restarts and crashes."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import psycopg
import pytest

from mesh.embedded import (
    DataDirInUseError,
    EmbeddedEnvoy,
    EmbeddedNats,
    EmbeddedPostgres,
    MissingBinaryError,
    StartupError,
    find_binary,
    free_port,
)


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_find_binary_names_the_package() -> None:
    assert find_binary("nats-server").name == "nats-server"
    with pytest.raises(MissingBinaryError, match="no-such-binary"):
        find_binary("no-such-binary")


def test_postgres_data_survives_restart(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", free_port(), fast=True)
    with pg:
        assert pg.last_initdb_seconds is not None
        with psycopg.connect(pg.url, autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            conn.execute("create table titles (id int primary key, name text)")
            conn.execute("insert into titles values (1, 'Metropolis')")
        url = pg.create_database("catalog")
        assert pg.create_database("catalog") == url  # idempotent
        with pytest.raises(DataDirInUseError):
            EmbeddedPostgres(tmp_path / "pg", free_port()).start()
    assert not pg.is_running()

    pg.last_initdb_seconds = None
    with pg:
        assert pg.last_initdb_seconds is None  # resumed, no initdb
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("select name from titles").fetchall() == [("Metropolis",)]
        with psycopg.connect(pg.url_for("catalog")) as conn:
            assert conn.execute("select current_database()").fetchone() == ("catalog",)


def test_postgres_recovers_after_crash_with_long_path(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60) / "pg"
    pg = EmbeddedPostgres(data_dir, free_port())
    assert pg.socket_dir != data_dir  # unix socket path would be too long inside the data dir
    pg.start()
    try:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("create table t (v int)")
            conn.execute("insert into t values (42)")
        pg.kill()  # SIGKILL to postmaster and backends: stale postmaster.pid stays behind
        assert (data_dir / "postmaster.pid").exists()
        pg.start()
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("select v from t").fetchall() == [(42,)]
    finally:
        pg.stop()


def test_postgres_startup_error_carries_log_tail(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(
        tmp_path / "pg", free_port(), fast=True, settings={"no_such_setting": "1"}
    )
    with pytest.raises(StartupError, match="no_such_setting"):
        pg.start()
    assert not pg.is_running()


async def test_nats_jetstream_survives_kill(tmp_path: Path) -> None:
    import nats

    srv = EmbeddedNats(tmp_path / "nats", free_port(), free_port())
    srv.start()
    try:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await js.add_stream(name="EVENTS", subjects=["vod.>"])
        ack = await js.publish("vod.catalog.title_published", b"title-1")
        assert ack.seq == 1
        await nc.close()

        pid = srv.pid
        srv.kill()
        assert not srv.is_running()
        assert pid is not None and not _alive(pid)

        srv.start()
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        msg = await js.get_msg("EVENTS", 1)
        assert msg.data == b"title-1"
        await nc.close()
    finally:
        srv.stop()


def test_nats_ready_without_monitor_port(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path / "nats", free_port()) as srv:
        assert srv.monitor_url is None
        with socket.create_connection(("127.0.0.1", srv.port), timeout=2) as sock:
            assert sock.recv(4) == b"INFO"


def test_envoy_becomes_ready(tmp_path: Path) -> None:
    admin_port = free_port()
    config = tmp_path / "envoy.json"
    config.write_text(
        json.dumps(
            {
                "admin": {
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": admin_port}
                    }
                },
                "static_resources": {"listeners": [], "clusters": []},
            }
        )
    )
    envoy = EmbeddedEnvoy(config, f"http://127.0.0.1:{admin_port}", tmp_path / "envoy.log")
    with envoy:
        assert envoy.is_running()
        pid = envoy.pid
    assert pid is not None and not _alive(pid)


def test_envoy_bad_config_raises_with_log(tmp_path: Path) -> None:
    config = tmp_path / "envoy.json"
    config.write_text('{"admin": {"address": {"socket_address": {"port_value": "oops"}}}}')
    envoy = EmbeddedEnvoy(config, "http://127.0.0.1:1", tmp_path / "envoy.log")
    with pytest.raises(StartupError, match="exited with code"):
        envoy.start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_postgres_kill_leaves_no_backends(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", free_port(), fast=True)
    pg.start()
    postmaster = pg.pid
    assert postmaster is not None
    with psycopg.connect(pg.url):
        children = _children(postmaster)
        assert children  # checkpointer, walwriter, our backend, ...
        pg.kill()
    deadline = time.monotonic() + 5
    while [pid for pid in children if _alive(pid) and not _zombie(pid)]:
        assert time.monotonic() < deadline, "postgres children survived kill()"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    out = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat_file.read_text()
        except OSError:
            continue
        if int(text[text.rfind(")") + 2 :].split()[1]) == pid:
            out.append(int(stat_file.parent.name))
    return out


def _zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rfind(")") + 2] == "Z"
