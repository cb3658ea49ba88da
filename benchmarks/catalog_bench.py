"""Catalog GetTitle throughput and latency: through Envoy, directly against the service (with its
read cache, as one process and as `--processes` processes on one port, and one process with the
cache off), and against a bare grpc.aio echo server returning a response of the same size — all on
this machine in the same run, so the ratios can be read off. The client spreads its callers over
`--channels` connections (so a service running several processes gets all of them). Prints
numbers; asserts nothing.

    scripts/bench catalog [--seconds 5] [--concurrency 32] [--channels 4] [--processes 2]
                          [--trace-sample-ratio 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

from vod.catalog.v1 import catalog_pb2 as pb  # noqa: E402
from vod.catalog.v1 import catalog_pb2_grpc  # noqa: E402

from mesh.embedded import free_port, free_port_block  # noqa: E402
from mesh.launcher import LocalMesh  # noqa: E402
from mesh.local import load_local_settings  # noqa: E402
from services.catalog.demo import demo_titles  # noqa: E402
from services.runtime.clients import wait_serving  # noqa: E402

ECHO_SERVER = r"""
import asyncio, sys
import grpc
sys.path[:0] = sys.argv[2:]
from vod.catalog.v1 import catalog_pb2 as pb, catalog_pb2_grpc

class Echo(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, response):
        self.response = response
    async def GetTitle(self, request, context):
        return self.response

async def main():
    response = pb.GetTitleResponse.FromString(sys.stdin.buffer.read())
    server = grpc.aio.server()
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(Echo(response), server)
    server.add_insecure_port(sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def qps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def load(
    label: str,
    target: str,
    names: list[str],
    seconds: float,
    concurrency: int,
    channels: int,
    metadata: tuple[tuple[str, str], ...] = (),
) -> Result:
    async with AsyncExitStack() as stack:
        stubs = []
        for _ in range(channels):  # each its own connection (no shared subchannel pool)
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            )
            stubs.append(catalog_pb2_grpc.CatalogServiceStub(channel))
        for stub in stubs:
            for name in names[:20]:  # warm up connections and caches
                await stub.GetTitle(pb.GetTitleRequest(name=name), timeout=5, metadata=metadata)
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def worker(offset: int) -> None:
            stub = stubs[offset % len(stubs)]
            i = offset
            while time.perf_counter() < stop_at:
                began = time.perf_counter()
                await stub.GetTitle(
                    pb.GetTitleRequest(name=names[i % len(names)]), timeout=5, metadata=metadata
                )
                latencies.append((time.perf_counter() - began) * 1000)
                i += concurrency

        began = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return Result(label, len(latencies), time.perf_counter() - began, latencies)


def print_table(results: list[Result], baseline: Result) -> None:
    print(f"\n{'target':<34}{'QPS':>10}{'p50 ms':>10}{'p99 ms':>10}{'QPS vs bare':>14}")
    for r in results:
        print(
            f"{r.label:<34}{r.qps:>10.0f}{r.pct(50):>10.2f}{r.pct(99):>10.2f}"
            f"{r.qps / baseline.qps:>13.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--trace-sample-ratio",
        type=float,
        default=1.0,
        help="VOD_TRACE_SAMPLE_RATIO for every service (1 = the default: every request traced)",
    )
    args = parser.parse_args()
    os.environ["VOD_CATALOG_PROCESSES"] = str(args.processes)  # the mesh's catalog
    os.environ["VOD_TRACE_SAMPLE_RATIO"] = str(args.trace_sample_ratio)

    home = Path(tempfile.mkdtemp(prefix="vod-bench-"))
    settings = replace(
        load_local_settings(env={}, home=str(home)),
        gateway_port=free_port(),
        admin_port=free_port(),
        service_base_port=free_port_block(10),
        metrics_base_port=free_port_block(10),
        http_base_port=free_port_block(5),
        postgres_port=free_port(),
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        log_level="WARNING",
    )
    mesh = LocalMesh(settings, say=lambda s: print(f"  {s}", file=sys.stderr))
    echo_port = free_port()
    echo = None
    extra: list[subprocess.Popen[bytes]] = []
    try:
        print("starting the mesh (postgres, nats, catalog, envoy)…", file=sys.stderr)
        mesh.start()
        service = mesh.grpc_address(mesh.services[0].entry)
        names = asyncio.run(_seed(service))  # writes are for admins at the front door
        viewer = mesh.admin_metadata()  # GetTitle is for signed-in viewers at the front door
        sample = asyncio.run(_get(service, names[0]))
        echo = subprocess.Popen(
            [
                sys.executable,
                "-c",
                ECHO_SERVER,
                f"127.0.0.1:{echo_port}",
                str(ROOT / "gen" / "python"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ},
        )
        assert echo.stdin is not None and echo.stdout is not None
        echo.stdin.write(sample.SerializeToString())
        echo.stdin.close()
        echo.stdout.readline()
        uncached_port, single_port = free_port(), free_port()
        extra.append(_extra_catalog(mesh, uncached_port, home, "uncached", cache_ttl_s="0"))
        extra.append(_extra_catalog(mesh, single_port, home, "single"))
        many = f"{args.processes} processes"
        runs = [
            ("bare grpc.aio echo (same payload)", f"127.0.0.1:{echo_port}"),
            ("catalog direct, read cache off", f"127.0.0.1:{uncached_port}"),
            ("catalog direct, 1 process", f"127.0.0.1:{single_port}"),
            (f"catalog direct, {many}", service),
            (f"catalog through envoy, {many}", settings.gateway_grpc),
        ]
        tokens = {settings.gateway_grpc: viewer}
        results = []
        for label, target in runs:
            print(f"measuring {label} for {args.seconds:.0f}s…", file=sys.stderr)
            results.append(
                asyncio.run(
                    load(
                        label,
                        target,
                        names,
                        args.seconds,
                        args.concurrency,
                        args.channels,
                        tokens.get(target, ()),
                    )
                )
            )
        print(
            f"\nGetTitle, {args.concurrency} concurrent callers on {args.channels} connections, "
            f"{args.seconds:.0f}s each, "
            f"{len(names)} titles, response {sample.ByteSize()} bytes"
        )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, "
            "client and servers on the same host; "
            f"traces recorded for {args.trace_sample_ratio:.0%} of requests"
        )
        print_table(results, results[0])
        uncached_run, single, direct, envoy = results[1:5]
        print(
            f"read cache: {single.qps / uncached_run.qps:.2f}x the QPS of the same service "
            f"without it (p50 {uncached_run.pct(50):.2f} -> {single.pct(50):.2f} ms); "
            f"{many}: {direct.qps / single.qps:.2f}x one process"
        )
        print(
            f"\nenvoy hop adds {envoy.pct(50) - direct.pct(50):.2f} ms at p50, "
            f"{envoy.pct(99) - direct.pct(99):.2f} ms at p99; "
            f"catalog reaches {direct.qps / results[0].qps:.0%} of the bare server's QPS direct, "
            f"{envoy.qps / results[0].qps:.0%} through envoy "
            f"(median of {statistics.median([r.requests for r in results]):.0f} requests per run)"
        )
    finally:
        if echo is not None:
            echo.terminate()
        for process in extra:
            process.terminate()
            process.wait(10)
        mesh.stop()


def _extra_catalog(
    mesh: LocalMesh, port: int, home: Path, label: str, cache_ttl_s: str = ""
) -> subprocess.Popen[bytes]:
    """Another single catalog process on the mesh's database (baselines measured in the same
    run: one process, and one with its read cache off)."""
    entry = mesh.services[0].entry
    env = {
        **mesh.service_env(entry),
        "VOD_CATALOG_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "VOD_CATALOG_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_CATALOG_PROCESSES": "1",
    }
    if cache_ttl_s:
        env["VOD_CATALOG_CACHE_TTL_S"] = cache_ttl_s
    log = (home / f"catalog-{label}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", entry.module], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    asyncio.run(wait_serving(f"127.0.0.1:{port}", alive=lambda: process.poll() is None))
    return process


async def _seed(target: str) -> list[str]:
    from services.catalog.demo import seed_demo

    async with grpc.aio.insecure_channel(target) as channel:
        await seed_demo(catalog_pb2_grpc.CatalogServiceStub(channel))
    return [f"titles/{title_id}" for title_id, _ in demo_titles()]


async def _get(target: str, name: str) -> pb.GetTitleResponse:
    async with grpc.aio.insecure_channel(target) as channel:
        return await catalog_pb2_grpc.CatalogServiceStub(channel).GetTitle(
            pb.GetTitleRequest(name=name)
        )


if __name__ == "__main__":
    main()
