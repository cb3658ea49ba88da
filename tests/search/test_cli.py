"""`vod search` / `vod suggest` as registered on an argparse parser, against the real service."""

from __future__ import annotations

import argparse
import io

import pytest

from services.search.cli import register, run_search, run_suggest

pytestmark = pytest.mark.usefixtures("netflix")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vod")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


async def test_search_prints_ranked_results_with_ids(search_process) -> None:
    args = parse(
        "search",
        "strnger thngs",
        "--genre",
        "TV Horror",
        "--year-from",
        "2015",
        "--region",
        "us",
        "--target",
        search_process.address,
    )
    out = io.StringIO()
    assert await run_search(args, out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "(showing results for: stranger things)"
    assert lines[2].startswith("  1. Stranger Things (2019, series, TV-14)")
    assert lines[2].endswith("titles/stranger-things-s3686")


async def test_suggest_prints_completions(search_process) -> None:
    out = io.StringIO()
    assert (
        await run_suggest(parse("suggest", "adam sand", "--target", search_process.address), out)
        == 0
    )
    assert "person  Adam Sandler" in out.getvalue().splitlines()


async def test_bad_arguments_print_the_violation(search_process, capsys) -> None:
    args = parse(
        "search",
        "love",
        "--year-from",
        "2020",
        "--year-to",
        "2000",
        "--target",
        search_process.address,
    )
    assert await run_search(args, io.StringIO()) == 2
    assert "filter.release_year_max" in capsys.readouterr().err
