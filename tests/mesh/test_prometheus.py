"""Prometheus for the mesh without a running mesh: the generated prometheus.yml passes
`promtool check config`; the rules pass `promtool check rules` and their unit tests
(mesh/observability/tests: alerts fire when they should and stay quiet otherwise), and those unit
tests fail when a threshold is changed; the Grafana dashboard uses only recorded or exported
metrics; the edge exporter counts every access-log line exactly once; the supervisor exporter
reports restarts and states from a state file and nothing stale without one.

Needs Debian's prometheus package (promtool): `./scripts/system-deps` installs it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mesh.observability.exporter import (
    EDGE_METRICS,
    NATS_METRICS,
    SUPERVISOR_METRICS,
    EdgeLogCollector,
    SupervisorCollector,
)
from mesh.prometheus import (
    OBSERVABILITY,
    RULES_DIR,
    PrometheusSettings,
    ScrapeTargets,
    prometheus_command,
    render_config,
    write_config,
)
from mesh.services import SERVICES

TESTS_DIR = OBSERVABILITY / "tests"
DASHBOARD = OBSERVABILITY / "grafana" / "vodmesh.json"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool") or "/usr/bin/promtool"
    assert Path(found).exists(), "promtool missing: run ./scripts/system-deps (Debian prometheus)"
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def targets(nats: bool = True, supervisor: bool = True) -> ScrapeTargets:
    return ScrapeTargets(
        services={e.name: f"127.0.0.1:{9100 + e.port_offset}" for e in SERVICES},
        envoy_admin="127.0.0.1:9901",
        edge_logs={"US": Path("/tmp/us.log"), "GB": Path("/tmp/gb.log")},
        nats_monitor="http://127.0.0.1:8222" if nats else None,
        state_file=Path("/tmp/vod/run/state.json") if supervisor else None,
    )


def test_generated_config_passes_promtool_and_scrapes_every_part(
    promtool: str, tmp_path: Path
) -> None:
    settings = PrometheusSettings(port=19090, exporter_port=19190)
    path = write_config(settings, targets(), tmp_path / "prometheus.yml")
    result = run([promtool, "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == [*(e.name for e in SERVICES), "envoy", "edges", "nats", "supervisor"]
    assert jobs["catalog"]["static_configs"][0]["targets"] == ["127.0.0.1:9100"]
    assert jobs["envoy"]["metrics_path"] == "/stats/prometheus"
    assert jobs["envoy"]["static_configs"][0]["targets"] == ["127.0.0.1:9901"]
    assert jobs["edges"]["static_configs"][0]["targets"] == ["127.0.0.1:19190"]
    paths = [jobs[name]["metrics_path"] for name in ("edges", "nats", "supervisor")]
    assert paths == ["/metrics/edges", "/metrics/nats", "/metrics/supervisor"]
    assert config["rule_files"] == [str(RULES_DIR / "*.yml")]
    # Without a known NATS monitoring port there is no nats job (rather than one always down).
    without = render_config(settings, targets(nats=False, supervisor=False))
    assert [job["job_name"] for job in without["scrape_configs"]][-2:] == ["envoy", "edges"]


def test_prometheus_command_points_at_the_home(tmp_path: Path) -> None:
    argv = prometheus_command(PrometheusSettings(port=19090), tmp_path)
    assert argv[1:5] == [
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        "--storage.tsdb.retention.time=7d",
        "--web.listen-address=127.0.0.1:19090",
    ]


def test_rules_pass_promtool_check(promtool: str) -> None:
    result = run([promtool, "check", "rules", *sorted(map(str, RULES_DIR.glob("*.yml")))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout  # alerts.yml
    assert "SUCCESS: 14 rules found" in result.stdout  # recording.yml


def test_rule_unit_tests_pass(promtool: str) -> None:
    files = sorted(map(str, TESTS_DIR.glob("*_test.yml")))
    assert [Path(f).name for f in files] == [
        "edges_events_test.yml",
        "qoe_test.yml",
        "rpc_test.yml",
        "supervisor_test.yml",
    ]
    result = run([promtool, "test", "rules", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 4


def test_rule_unit_tests_catch_a_changed_threshold(promtool: str, tmp_path: Path) -> None:
    """The unit tests bite: with the error-ratio threshold at 50% the catalog alert (10% of RPCs
    failing) no longer fires and `promtool test rules` fails."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES_DIR / "recording.yml", tmp_path / "rules" / "recording.yml")
    alerts = (RULES_DIR / "alerts.yml").read_text()
    changed = alerts.replace(
        "job:grpc_server_error_ratio:rate5m > 0.05", "job:grpc_server_error_ratio:rate5m > 0.5"
    )
    assert changed != alerts
    (tmp_path / "rules" / "alerts.yml").write_text(changed)
    shutil.copy(TESTS_DIR / "rpc_test.yml", tmp_path / "tests" / "rpc_test.yml")
    result = run([promtool, "test", "rules", str(tmp_path / "tests" / "rpc_test.yml")])
    assert result.returncode == 1
    assert "alertname: RpcErrorRatioHigh, time: 15m" in result.stderr


# -- the dashboard -----------------------------------------------------------------------------

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside label matchers, strings,
    ranges and by/without lists that are not function calls or keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b\d[\d.e+]*[smhdwy]*\b", "", text)  # numbers and durations (offset 5m)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def recorded_names() -> set[str]:
    names = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


def test_metric_names_sees_through_promql() -> None:
    expr = 'sum by (job) (rate(x_total{a="b:c"}[5m])) / on (job) y:z:w or up offset 5m'
    assert metric_names(expr) == {"x_total", "y:z:w", "up"}


def test_dashboard_panels_use_only_recorded_or_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource",
        "prometheus",
    )
    known = (
        recorded_names() | set(EDGE_METRICS) | set(NATS_METRICS) | set(SUPERVISOR_METRICS) | {"up"}
    )
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) == 13
    used: set[str] = set()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert names <= known, (panel["title"], names - known)
            used |= names
    # Every recording rule is on the dashboard.
    assert recorded_names() - used == {"job:grpc_server_errors:rate5m"}


# -- the edge exporter --------------------------------------------------------------------------


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def line(status: int, cache: str, size: int, reason: str = "") -> str:
    return json.dumps(
        {"region": "US", "status": status, "cache": cache, "bytes": size, "reason": reason}
    )


def test_edge_exporter_counts_each_log_line_once(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeLogCollector({"US": log}))
    before = scrape(registry)  # no log yet: an edge that served nothing
    assert before[("vod_edge_cache_requests_total", (("cache", "HIT"), ("region", "US")))] == 0

    log.write_text(
        "\n".join(
            [
                line(200, "MISS", 1000),
                line(200, "HIT", 1000),
                line(206, "HIT", 500),
                line(403, "", 0, "bad_token"),
                "not json",
            ]
        )
        + "\n"
        + line(200, "HIT", 7)[:20]  # a line still being written
    )
    first = scrape(registry)
    with log.open("a") as fh:
        fh.write(line(200, "HIT", 7)[20:] + "\n")
    second = scrape(registry)

    def value(samples: dict, name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"region": "US", **labels}.items())))]

    assert value(first, "vod_edge_cache_requests_total", cache="HIT") == 2
    assert value(second, "vod_edge_cache_requests_total", cache="HIT") == 3
    assert value(second, "vod_edge_cache_requests_total", cache="MISS") == 1
    assert value(second, "vod_edge_cache_requests_total", cache="NONE") == 1
    assert value(second, "vod_edge_requests_total", status="200") == 3
    assert value(second, "vod_edge_requests_total", status="206") == 1
    assert value(second, "vod_edge_requests_total", status="403") == 1
    assert value(second, "vod_edge_refusals_total", reason="bad_token") == 1
    assert value(second, "vod_edge_sent_bytes_total", cache="HIT") == 1507
    assert value(second, "vod_edge_log_unparsed_lines_total") == 1

    log.write_text(line(200, "MISS", 3) + "\n")  # rotated: a shorter, new log
    third = scrape(registry)
    assert value(third, "vod_edge_cache_requests_total", cache="MISS") == 2
    assert value(third, "vod_edge_cache_requests_total", cache="HIT") == 3


def _samples(collector: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_supervisor_exporter_reports_restarts_and_states(tmp_path: Path) -> None:
    state_file = tmp_path / "run" / "state.json"
    collector = SupervisorCollector(state_file)
    # No mesh (no state file): down, and no per-component series to go stale.
    assert _samples(collector) == {("vod_supervisor_up", ()): 0.0}
    state_file.parent.mkdir()
    state_file.write_text(
        json.dumps(
            {
                "processes": {
                    "catalog": {"pid": 41, "state": "RUNNING", "restarts": 2},
                    "search": {"pid": 0, "state": "CRASHLOOP", "restarts": 5},
                }
            }
        )
    )
    samples = _samples(collector)
    assert samples[("vod_supervisor_up", ())] == 1.0
    restarts = {
        dict(labels)["component"]: value
        for (name, labels), value in samples.items()
        if name == "vod_supervisor_restarts_total"
    }
    assert restarts == {"catalog": 2.0, "search": 5.0}
    current = {
        (dict(labels)["component"], dict(labels)["state"])
        for (name, labels), value in samples.items()
        if name == "vod_supervisor_component_state" and value == 1.0
    }
    assert current == {("catalog", "RUNNING"), ("search", "CRASHLOOP")}
    # A half-written or foreign file is not read as numbers.
    state_file.write_text('{"processes": ')
    assert _samples(collector) == {("vod_supervisor_up", ()): 0.0}
