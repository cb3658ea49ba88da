"""`vod up` as an operator meets it: a crashed service is restarted (and counted), a killed
`vod up` leaves no process and no port behind, SIGINT stops it even when its parent ignored
SIGINT, and `vod status` / `vod down` work from the data directory with or without a live
`vod up`. Plus the supervisor's backoff and crash-loop bookkeeping on real short-lived
processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mesh.embedded import ManagedProcess, free_port, free_port_block
from mesh.observability.exporter import SupervisorCollector
from mesh.supervisor import (
    CRASHLOOP_RESTARTS,
    Supervisor,
    process_record,
    start_time,
    verified_alive,
)
from tests.conftest import scratch_dir

ROOT = Path(__file__).resolve().parents[2]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def mesh_env() -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")]),
        "VOD_GATEWAY_PORT": str(free_port()),
        "VOD_ADMIN_PORT": str(free_port()),
        "VOD_SERVICE_BASE_PORT": str(free_port_block(10)),
        "VOD_METRICS_BASE_PORT": str(free_port_block(10)),
        "VOD_HTTP_BASE_PORT": str(free_port_block(5)),
        "VOD_EDGE_BASE_PORT": str(free_port_block(2)),
        "VOD_POSTGRES_PORT": str(free_port()),
        "VOD_NATS_PORT": str(free_port()),
        "VOD_NATS_MONITOR_PORT": str(free_port()),
        "VOD_PROMETHEUS_PORT": str(free_port()),
        "VOD_PROMETHEUS_EXPORTER_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    env.pop("VOD_DATABASE_URL", None)
    env.pop("VOD_NATS_URL", None)
    return env


def vod(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh.cli", "--home", str(home), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_up(home: Path, env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`vod up --no-demo` in the foreground, started with SIGINT ignored (as `cmd &` does)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mesh.cli", "--home", str(home), "up", "--no-demo", *extra],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_ignore_sigint,
        )


def state_of(home: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((home / "run" / "state.json").read_text()))
    except (OSError, ValueError):
        return None


def wait_ready(home: Path, up: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        assert up.poll() is None, f"vod up exited {up.returncode}:\n{log.read_text()[-3000:]}"
        state = state_of(home)
        ok = state and state["status"] == "ready" and state["supervisor_pid"] == up.pid
        return state if ok else None

    return dict(wait_for("vod up to be ready", ready, timeout=240))


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def all_gone(records: list[dict[str, Any]]) -> bool:
    return not any(verified_alive(r) for r in records) and all(
        port_free(p) for r in records for p in r["ports"]
    )


def test_heals_crashes_leaves_no_orphans_and_stops_on_sigint() -> None:
    with scratch_dir("vodtest-sup-") as root:
        _scenario(root / "var", root)


def _scenario(home: Path, root: Path) -> None:
    env = mesh_env()
    base = f"http://127.0.0.1:{env['VOD_GATEWAY_PORT']}"
    log = root / "vod-up.log"
    # A leftover of a crashed `vod up`: its state file names a still-running child.
    stray = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    (home / "run").mkdir(parents=True)
    (home / "run" / "state.json").write_text(
        json.dumps(
            {
                "supervisor_pid": dead.pid,
                "status": "ready",
                "gateway": base,
                "admin": "",
                "database_url": "",
                "nats_url": "",
                "processes": {"stray": process_record("stray", stray.pid, signal.SIGTERM)},
            }
        )
    )
    up: subprocess.Popen[bytes] | None = None
    try:
        status = vod(home, env, "status")
        assert status.returncode == 1, status.stdout + status.stderr
        assert "LEFTOVERS" in status.stdout and "stray" in status.stdout
        assert "LEFTOVER" in status.stdout.split("stray", 1)[1].splitlines()[0]

        # 1. the next `vod up` stops the leftover first, saying so
        up = start_up(home, env, log)
        state = wait_ready(home, up, log)
        assert stray.poll() == -signal.SIGTERM
        assert f"stopping leftover stray (pid {stray.pid}" in log.read_text()
        assert state["supervisor_pid"] == up.pid
        assert state["processes"]["catalog"]["restarts"] == 0

        # 2. a SIGKILLed service comes back, counted, and the gateway routes to it again
        token = json.loads((home / "credentials.json").read_text())["access_token"]
        headers = {"authorization": f"Bearer {token}"}
        old = state["processes"]["catalog"]
        os.kill(old["pid"], signal.SIGKILL)

        def healed() -> dict[str, Any] | None:
            s = state_of(home)
            c = s["processes"]["catalog"] if s else {}
            ok = c.get("restarts") == 1 and c.get("state") == "RUNNING"
            return c if ok and c["pid"] != old["pid"] else None

        catalog = wait_for("catalog to be restarted", healed, timeout=90)
        assert verified_alive(catalog)

        def routed() -> bool:
            r = httpx.get(f"{base}/v1/titles", headers=headers, timeout=10)
            return r.status_code == 200

        wait_for("the gateway to route to the new catalog", routed, timeout=60)
        assert "catalog: exited unexpectedly (code -9)" in log.read_text()
        assert "catalog: restart #1" in log.read_text()
        # ... and counted where Prometheus reads it (the exporter's supervisor collector).
        exported = SupervisorCollector(home / "run" / "state.json").collect()
        restarts = next(m for m in exported if m.name == "vod_supervisor_restarts")
        counted = {s.labels["component"]: s.value for s in restarts.samples}
        assert counted["catalog"] == 1 and counted["search"] == 0, counted
        status = vod(home, env, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        row = next(line for line in status.stdout.splitlines() if "│ catalog " in line)
        cells = [c.strip() for c in row.split("│")[1:-1]]
        assert cells[:5] == ["catalog", str(catalog["pid"]), "alive", "RUNNING", "1"], cells

        # 3. SIGKILL `vod up` (with one child stopped, so only the watchdog can end it):
        #    nothing survives, every port is free, `vod status` / `vod down` say so
        state = state_of(home)
        assert state is not None
        records = [r for r in state["processes"].values() if r["pid"]]
        assert len(records) == len(state["processes"])
        os.kill(state["processes"]["search"]["pid"], signal.SIGSTOP)
        os.kill(up.pid, signal.SIGKILL)
        up.wait(10)
        wait_for("every child to be gone", lambda: all_gone(records), timeout=90)
        watchdog = state["watchdog_pid"]
        wait_for("the watchdog to exit", lambda: not os.path.exists(f"/proc/{watchdog}"), 30)
        assert state_of(home) is None
        status = vod(home, env, "status")
        assert status.returncode == 3 and "no mesh running" in status.stdout, status.stdout
        down = vod(home, env, "down")
        assert down.returncode == 0 and "no mesh running" in down.stdout, down.stdout

        # 4. a second `vod up` (with Prometheus this time) starts cleanly; SIGINT stops it
        #    although its parent ignored SIGINT
        log.write_text("")
        up = start_up(home, env, log, "--with-prometheus")
        state = wait_ready(home, up, log)
        assert "leftover" not in log.read_text()
        prometheus = f"http://127.0.0.1:{env['VOD_PROMETHEUS_PORT']}"
        assert state["prometheus"] == prometheus
        # The summary table is printed just after the state says ready: wait for it.
        wait_for("the summary's prometheus row", lambda: "│ prometheus " in log.read_text(), 30)
        assert prometheus in log.read_text()
        for name in ("prometheus", "prometheus-exporter"):
            assert verified_alive(state["processes"][name]), name
        assert httpx.get(f"{prometheus}/-/ready", timeout=10).status_code == 200

        def scraped_supervisor() -> dict[str, str] | None:
            query = 'vod_supervisor_component_state{state="RUNNING"} == 1'
            r = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=10)
            found = {x["metric"]["component"]: x["value"][1] for x in r.json()["data"]["result"]}
            return found if {"catalog", "worker-transcoding-1"} <= set(found) else None

        running = wait_for("Prometheus to scrape the supervisor", scraped_supervisor, 60)
        assert set(running) == set(state["processes"]), running
        records = list(state["processes"].values())
        os.kill(up.pid, signal.SIGINT)
        assert up.wait(120) == 0, log.read_text()[-3000:]
        assert "SIGINT received" in log.read_text()
        assert all_gone(records)
        assert state_of(home) is None
        watchdog = state["watchdog_pid"]
        wait_for("the watchdog to exit", lambda: not os.path.exists(f"/proc/{watchdog}"), 30)
    finally:
        if up is not None and up.poll() is None:
            up.send_signal(signal.SIGTERM)
            up.wait(120)
        stray.kill()
        stray.wait()
        vod(home, env, "down")
    leftovers = subprocess.run(
        ["pgrep", "-f", str(home)], capture_output=True, text=True
    ).stdout.split()
    shown = subprocess.run(
        ["ps", "-o", "pid,ppid,stat,cmd", "-p", ",".join(leftovers) or "1"],
        capture_output=True,
        text=True,
    ).stdout
    assert leftovers == [], f"processes left running: {shown}"


class _Crasher(ManagedProcess):
    """A real child that exits with code 3 at once."""

    name = "crasher"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "raise SystemExit(3)"]

    def probe_ready(self) -> bool:
        return True


def test_backoff_doubles_to_the_cap_and_a_crash_loop_is_reported() -> None:
    with scratch_dir("vodtest-sup-unit-") as root:
        now = [1000.0]
        said: list[str] = []
        changes: list[int] = []
        supervisor = Supervisor(said.append, lambda: changes.append(1), clock=lambda: now[0])
        crasher = _Crasher(root / "crasher.log")
        crasher._spawn()
        supervisor.watch("crasher", crasher)
        w = supervisor.watched["crasher"]
        delays = []
        for attempt in range(8):
            wait_for("the crasher to exit", lambda: not crasher.is_running(), 30)
            supervisor.tick()  # sees the exit, schedules the restart
            assert w.state == "BACKOFF" and w.last_exit == 3
            delays.append(w.next_start - now[0])
            now[0] = w.next_start - 0.01
            supervisor.tick()
            assert w.state == "BACKOFF"  # not before its time
            now[0] = w.next_start
            supervisor.tick()  # restarts it
            assert w.state == "STARTING" and w.restarts == attempt + 1
        assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        assert w.restarts == 8
        # 5 restarts within 60 s: the 6th exit (15.5 s after the first) is a crash loop
        assert w.crashloop and supervisor.states() == {"crasher": "CRASHLOOP"}
        assert supervisor.restarts() == {"crasher": 8}
        assert sum("CRASHLOOP" in line for line in said) == 1
        assert CRASHLOOP_RESTARTS == 5
        assert len(changes) == 16
        crasher.kill()


def test_a_recorded_pid_reused_by_another_process_is_not_taken_for_a_leftover() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = process_record("x", sleeper.pid, signal.SIGTERM)
        assert record["start_time"] == start_time(sleeper.pid) > 0
        assert verified_alive(record)
        assert not verified_alive({**record, "start_time": record["start_time"] - 1})
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not verified_alive(record)
