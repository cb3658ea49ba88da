"""EdgeSpec validation, the rendered nginx.conf (checked by the real `nginx -t`), and the
EmbeddedNginx lifecycle: start, reload, stop, a taken port."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import httpx
import pytest

from mesh.edge import EdgeSpec, regional_edges, render_nginx_conf, write_nginx_conf
from mesh.embedded import DataDirInUseError, StartupError, free_port, pid_alive
from mesh.nginx import EmbeddedNginx, NginxConfigError, prepare_dirs, validate_conf
from tests.conftest import scratch_dir
from tests.edge.conftest import EdgeFactory
from tests.edge.helpers import SECRET, log_entries, signed


def spec(root: Path, **overrides: object) -> EdgeSpec:
    values: dict[str, object] = dict(
        region="US",
        host="127.0.0.1",
        port=8081,
        origin_host="127.0.0.1",
        origin_port=8070,
        secret=SECRET,
        cache_dir=root / "cache",
        log_dir=root / "logs",
    )
    values.update(overrides)
    return EdgeSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "us"),
        ("region", "USA"),
        ("host", ""),
        ("port", 0),
        ("port", True),
        ("origin_port", 70000),
        ("origin_host", "a b"),
        ("cache_max_size", "lots"),
        ("cache_keys_zone_size", "0m"),
        ("cache_inactive", "forever"),
        ("cache_valid", "1 d"),
        ("cache_dir", Path("/tmp/a;b")),
        ("log_dir", Path("/tmp/$x")),
        ("worker_processes", 0),
        ("worker_connections", 1),
        ("origin_timeout_s", 0),
        ("blocked_networks", "10.0.0.0/8"),
        ("blocked_networks", ("not-a-network",)),
    ],
)
def test_spec_rejects_bad_fields_naming_them(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^edge spec: {field} "):
        spec(tmp_path, **{field: value})


@pytest.mark.parametrize("secret", ["short", 'quote"in-the-secret-123', "dollar$in-the-secret-12"])
def test_spec_rejects_bad_secrets_without_echoing_them(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValueError, match="^edge spec: secret must be") as err:
        spec(tmp_path, secret=secret)
    assert secret not in str(err.value)


def test_spec_never_shows_the_secret(tmp_path: Path) -> None:
    edge = spec(tmp_path)
    assert SECRET not in repr(edge)
    assert edge.base_url == "http://127.0.0.1:8081"
    assert spec(tmp_path, host="::1").base_url == "http://[::1]:8081"
    with pytest.raises(ValueError, match="^edge spec: port must differ"):
        spec(tmp_path, port=8070)


def test_rendered_config_passes_nginx_t_and_is_private(tmp_path: Path) -> None:
    with scratch_dir("vodtest-edgeconf-") as root:
        edge = spec(root, blocked_networks=("10.0.0.0/8", "2001:db8::/32"))
        prepare_dirs(edge, root / "run")
        conf = write_nginx_conf(edge, root / "run" / "nginx.conf", run_dir=root / "run")
        validate_conf(conf)
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        text = conf.read_text()
        assert text == render_nginx_conf(edge, run_dir=root / "run")
        assert text.count(SECRET) == 1
        # The token check, the cache key and the origin path are what the design says.
        assert 'secure_link_md5 "$secure_link_expires$cdn_prefix$arg_s ' in text
        assert "proxy_cache_key $cdn_origin_path;" in text
        assert "proxy_pass http://origin_US$cdn_origin_path;" in text
        assert "$request_uri" not in text.split("log_format", 1)[1].split(";", 1)[0]


def test_validate_conf_reports_nginx_message(tmp_path: Path) -> None:
    with scratch_dir("vodtest-edgeconf-") as root:
        edge = spec(root)
        prepare_dirs(edge, root / "run")
        conf = write_nginx_conf(edge, root / "run" / "nginx.conf", run_dir=root / "run")
        conf.write_text(conf.read_text().replace("server_tokens off;", "bogus_directive on;"))
        with pytest.raises(NginxConfigError, match='unknown directive "bogus_directive"'):
            validate_conf(conf)


def test_stop_ends_master_and_workers(start_edge: EdgeFactory) -> None:
    edge = start_edge("US")
    master = edge.pid
    assert master is not None
    pid_file = int(edge.pid_path.read_text())
    assert pid_file == master
    edge.stop()
    assert not pid_alive(master)
    assert not edge.is_running()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{edge.base_url}/edge/health")


def test_a_second_nginx_on_the_same_workdir_is_refused(start_edge: EdgeFactory) -> None:
    edge = start_edge("US")
    twin = EmbeddedNginx(EdgeSpec(**{**_fields(edge.spec), "port": free_port()}), edge.workdir)
    with pytest.raises(DataDirInUseError, match=f"nginx pid {edge.pid} is already running"):
        twin.start()
    assert edge.probe_ready()


def test_port_in_use_is_a_startup_error(start_edge: EdgeFactory) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StartupError, match=rf"bind\(\) to 127.0.0.1:{port} failed"):
            start_edge("US", port=port)


def test_reload_applies_a_new_spec_and_rejects_a_broken_one(start_edge: EdgeFactory) -> None:
    edge = start_edge("US")
    url = signed(edge)
    assert httpx.get(url).status_code == 200

    blocked = EdgeSpec(**{**_fields(edge.spec), "blocked_networks": ("127.0.0.0/8",)})
    edge.reload(blocked)
    refused = httpx.get(url)
    assert (refused.status_code, refused.text) == (403, "client blocked\n")
    assert log_entries(edge, 2)[1]["reason"] == "client_blocked"

    edge.reload(EdgeSpec(**{**_fields(edge.spec), "blocked_networks": ()}))
    assert httpx.get(url).headers["x-cache-status"] == "HIT"  # the cache survived reloads

    # A spec the edge cannot apply leaves the running config (and the file) as they were.
    before = edge.conf_path.read_text()
    with pytest.raises(OSError):
        edge.reload(EdgeSpec(**{**_fields(edge.spec), "log_dir": Path("/proc/no-edge-here")}))
    assert edge.conf_path.read_text() == before
    assert httpx.get(url).headers["x-cache-status"] == "HIT"


def test_reload_of_a_stopped_edge_fails(tmp_path: Path) -> None:
    edge = EmbeddedNginx(spec(tmp_path, port=free_port()), tmp_path / "run")
    with pytest.raises(StartupError, match="not running"):
        edge.reload()


def _fields(edge_spec: EdgeSpec) -> dict[str, object]:
    return {name: getattr(edge_spec, name) for name in EdgeSpec.__dataclass_fields__}


def test_regional_edges_one_spec_per_region(tmp_path: Path) -> None:
    specs = regional_edges(
        ("US", "GB", "IN"),
        host="127.0.0.1",
        base_port=8180,
        origin_host="127.0.0.1",
        origin_port=8070,
        secret=SECRET,
        root=tmp_path,
        cache_max_size="256m",
    )
    assert [(s.region, s.port, s.cache_max_size) for s in specs] == [
        ("US", 8180, "256m"),
        ("GB", 8181, "256m"),
        ("IN", 8182, "256m"),
    ]
    assert specs[1].cache_dir == tmp_path / "GB" / "cache"
    assert specs[1].access_log_path == tmp_path / "GB" / "logs" / "access.log"
    with pytest.raises(ValueError, match="distinct"):
        regional_edges(("US", "US"), host="h", base_port=1, origin_host="o", origin_port=2,
                       secret=SECRET, root=tmp_path)  # fmt: skip
    with pytest.raises(ValueError, match="^edge spec: region"):
        regional_edges(("usa",), host="h", base_port=1, origin_host="o", origin_port=2,
                       secret=SECRET, root=tmp_path)  # fmt: skip
