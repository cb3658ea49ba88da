"""Search benchmark: prints p50/p99 latency and QPS of Search and Suggest, in-process against the
engine and over gRPC, on the netflix catalog and on a generated catalog, plus index build time.
The gRPC load (8 callers, each on its own connection) runs against the search service in its own
process (`python -m services.search` serving the index just built), as one process and as
`--processes` copies on one port (`VOD_SEARCH_PROCESSES`), each directly and through an Envoy the
benchmark starts in front of it, in the same run; `--target` adds any other SearchService address.
Prints numbers, asserts nothing.

    scripts/bench search [--generated 100000] [--rounds 500] [--processes 2] [--target HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "gen" / "python")]

from collections.abc import AsyncIterator, Iterator  # noqa: E402
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager  # noqa: E402

import grpc  # noqa: E402
from vod.search.v1 import search_pb2 as pb  # noqa: E402
from vod.search.v1 import search_pb2_grpc  # noqa: E402

from mesh.embedded import EmbeddedEnvoy, free_port  # noqa: E402
from mesh.envoy_config import render_yaml  # noqa: E402
from mesh.spec import MeshSpec, ServiceSpec  # noqa: E402
from services.catalog.importer import read_rows, title_from_row  # noqa: E402
from services.runtime.clients import wait_serving  # noqa: E402
from services.search.documents import TitleDoc, doc_from_title  # noqa: E402
from services.search.engine import EngineQuery, Filters  # noqa: E402
from services.search.tantivy_engine import TantivyEngine  # noqa: E402
from services.search.text import words  # noqa: E402

DATASET = ROOT.parent / "shared" / "datasets" / "netflix_titles.csv"
QUERIES = [
    "stranger thigns",
    "adam sandlr",
    "love",
    "inceptoin",
    "the crown",
    "dark",
    "war",
    "christmas",
    "leonardo dicarpio",
    "korean drama",
    "anime",
    "shah rukh khan",
]
PREFIXES = ["s", "st", "str", "stra", "adam s", "the c", "lov", "nar", "k", "shah r"]


def netflix_docs() -> list[TitleDoc]:
    now = int(time.time())
    docs = []
    for _, row in read_rows(DATASET):
        try:
            title_id, title = title_from_row(row, ("US",))
        except ValueError:
            continue
        title.name = f"titles/{title_id}"
        docs.append(doc_from_title(title).at(now))
    return docs


def generated_docs(count: int, seed: int = 7) -> list[TitleDoc]:
    """Titles made of words from the real catalog, with real-looking casts and genres."""
    base = netflix_docs()
    rng = random.Random(seed)
    vocab = sorted({w for d in base for w in d.display_name.split()})
    people = sorted({p for d in base for p in d.people})
    genres = sorted({g for d in base for g in d.genres})
    synopses = [d.synopsis for d in base]
    now = int(time.time())
    out = []
    for i in range(count):
        out.append(
            TitleDoc(
                id=f"gen-{i}",
                display_name=" ".join(rng.sample(vocab, rng.randint(1, 4))),
                type=rng.choice(["movie", "series"]),
                release_year=rng.randint(1950, 2024),
                maturity_rating=rng.choice(["TV-MA", "TV-14", "PG-13", "R", "TV-PG"]),
                genres=tuple(rng.sample(genres, 2)),
                cast=tuple(rng.sample(people, 5)),
                directors=(rng.choice(people),),
                countries=("United States",),
                synopsis=rng.choice(synopses),
                windows=(("US", 0, 2**53),),
                popularity=rng.random() * 10,
            ).at(now)
        )
    return out


def stats(name: str, samples: list[float], elapsed: float) -> None:
    samples.sort()
    p50 = statistics.median(samples) * 1000
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000
    print(f"  {name:<34} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {len(samples) / elapsed:8.0f} QPS")


def unseen_typos(docs: list[TitleDoc], count: int, seed: int = 11) -> list[str]:
    """`count` different misspellings (two adjacent letters swapped) of title words of 5+
    letters, each followed by another word of the same title when it has one: queries no cache
    has seen, so their rows show what a first search costs."""
    rng = random.Random(seed)
    titles = [w for w in (words(d.display_name) for d in docs) if any(len(x) >= 5 for x in w)]
    out: dict[str, None] = {}
    while len(out) < count:
        title = rng.choice(titles)
        word = rng.choice([w for w in title if len(w) >= 5])
        at = rng.randrange(len(word) - 1)
        typo = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        if typo == word:
            continue
        others = [w for w in title if w != word]
        out[f"{typo} {rng.choice(others)}" if others else typo] = None
    return list(out)


def bench_engine(engine: TantivyEngine, rounds: int, docs: list[TitleDoc]) -> None:
    for label, texts, fields in (
        ("Search (engine)", QUERIES, None),
        ("Search (engine, unseen typos)", unseen_typos(docs, rounds), None),
        ("Suggest (engine, 2 queries)", PREFIXES, ("title",)),
    ):
        samples = []
        start = time.perf_counter()
        for i in range(rounds):
            terms = tuple(words(texts[i % len(texts)]))
            t = time.perf_counter()
            query = EngineQuery(
                words=terms,
                filters=Filters(region="US"),
                limit=20,
                facets=("genre",) if fields is None else (),
            )
            if fields:
                engine.search(EngineQuery(**{**query.__dict__, "fields": fields}))
                engine.search(EngineQuery(**{**query.__dict__, "fields": ("cast", "directors")}))
            else:
                engine.search(query)
            samples.append(time.perf_counter() - t)
        stats(label, samples, time.perf_counter() - start)


async def bench_grpc(target: str, rounds: int, concurrency: int = 8, tag: str = "") -> None:
    """`rounds` Searches then Suggests from `concurrency` callers, each on its own connection
    (so a service running several processes on its port gets all of them)."""
    async with AsyncExitStack() as stack:
        stubs = [
            search_pb2_grpc.SearchServiceStub(
                await stack.enter_async_context(
                    grpc.aio.insecure_channel(
                        target, options=[("grpc.use_local_subchannel_pool", 1)]
                    )
                )
            )
            for _ in range(concurrency)
        ]
        for label, make in (
            (
                "Search (gRPC)",
                lambda i: stubs[i % concurrency].Search(
                    pb.SearchRequest(
                        query=QUERIES[i % len(QUERIES)], facets=[pb.FACET_FIELD_GENRE]
                    ),
                    timeout=10,
                ),
            ),
            (
                "Suggest (gRPC)",
                lambda i: stubs[i % concurrency].Suggest(
                    pb.SuggestRequest(prefix=PREFIXES[i % len(PREFIXES)]), timeout=10
                ),
            ),
        ):
            samples: list[float] = []
            counter = iter(range(rounds))

            async def worker(counter=counter, make=make, samples=samples) -> None:  # type: ignore[no-untyped-def]
                for i in counter:
                    t = time.perf_counter()
                    await make(i)
                    samples.append(time.perf_counter() - t)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            stats(f"{label} x{concurrency} {tag}", samples, time.perf_counter() - start)


@asynccontextmanager
async def service_process(data_dir: Path, processes: int) -> AsyncIterator[int]:
    """`python -m services.search` serving the index in `data_dir` (copied for each copy when
    `processes` > 1); yields its port."""
    if processes > 1:
        for i in range(processes):
            shutil.copytree(data_dir, Path(f"{data_dir}-p{i}"), dirs_exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'gen' / 'python'}",
        "VOD_HOME": str(data_dir),
        "VOD_SEARCH_DATA_DIR": str(data_dir),
        "VOD_SEARCH_GRPC_ADDRESS": f"127.0.0.1:{port}",
        "VOD_SEARCH_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOD_SEARCH_PROCESSES": str(processes),
        "VOD_LOG_LEVEL": "WARNING",
    }
    env.pop("VOD_NATS_URL", None)
    log = (data_dir.parent / f"search-{processes}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.search"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        await wait_serving(f"127.0.0.1:{port}", alive=lambda: process.poll() is None)
        yield port
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        for i in range(processes if processes > 1 else 0):
            shutil.rmtree(f"{data_dir}-p{i}", ignore_errors=True)


@contextmanager
def envoy_in_front_of(port: int, workdir: Path) -> Iterator[str]:
    """Envoy from the mesh renderer with the search service as its only upstream; yields the
    front address, so the same gRPC load also runs through the proxy hop."""
    spec = MeshSpec(
        front_host="127.0.0.1",
        front_port=free_port(),
        admin_host="127.0.0.1",
        admin_port=free_port(),
        services=(ServiceSpec("search", "vod.search.v1.SearchService", "127.0.0.1", port),),
        descriptor_path=ROOT / "gen" / "descriptor" / "vod.binpb",
        access_log_path=str(workdir / "access.log"),
    )
    config = workdir / "envoy.json"
    config.write_text(render_yaml(spec))
    with EmbeddedEnvoy(
        config, f"http://127.0.0.1:{spec.admin_port}", log_path=workdir / "envoy.log"
    ):
        yield f"127.0.0.1:{spec.front_port}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        help="extra gRPC address serving SearchService (e.g. Envoy); repeatable",
    )
    parser.add_argument(
        "--generated", type=int, default=100_000, help="size of the generated catalog"
    )
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 2, help="VOD_SEARCH_PROCESSES to compare"
    )
    args = parser.parse_args()
    for label, make in (
        ("netflix", netflix_docs),
        (f"generated {args.generated:,}", lambda: generated_docs(args.generated)),
    ):
        docs = make()
        with tempfile.TemporaryDirectory() as tmp:
            engine = TantivyEngine(Path(tmp) / "tantivy")
            start = time.perf_counter()
            for i in range(0, len(docs), 5000):
                engine.write(docs[i : i + 5000], [])
            print(f"{label}: {len(docs):,} titles, index build {time.perf_counter() - start:.2f} s")
            bench_engine(engine, args.rounds, docs)
            engine.close()
            # the same index served by the real service in its own process (no NATS: a static
            # index), as one process and as --processes copies on one port, each copy with its
            # own copy of the index
            for processes in sorted({1, args.processes}):
                async with service_process(Path(tmp), processes) as port:
                    tag = f"({processes} process{'es' if processes > 1 else ''})"
                    await bench_grpc(f"127.0.0.1:{port}", args.rounds, tag=f"direct {tag}")
                    with envoy_in_front_of(port, Path(tmp)) as front:
                        await bench_grpc(front, args.rounds, tag=f"via Envoy {tag}")
            for target in args.target:
                await bench_grpc(target, args.rounds, tag=target)


if __name__ == "__main__":
    from services.runtime.logs import configure_logging

    configure_logging("search-bench", "WARNING")
    asyncio.run(main())
