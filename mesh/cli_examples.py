"""Examples for every `vod` command's `--help`, kept in one table so that a new command without
one fails `tests/mesh/test_cli_help.py`. `apply(parser)` adds them as each command's epilog."""

from __future__ import annotations

import argparse

__all__ = ["EXAMPLES", "apply", "leaf_commands"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "up": (
        "vod up                      # foreground, Ctrl-C (or SIGTERM) stops everything",
        "vod up --detach --no-demo   # background, no demo content; `vod down` stops it",
    ),
    "status": ("vod status                  # processes, ports and health of the local mesh",),
    "down": ("vod down                    # stop the mesh in this data directory",),
    "catalog import": (
        "vod catalog import ../shared/datasets/netflix_titles.csv --regions US,GB --limit 500",
    ),
    "edge stats": ("vod edge stats              # hits, misses and bytes per region's edge",),
    "edge warm": ("vod edge warm titles/my-film --region GB",),
    "trace": ("vod trace 3f2a9c0d1e2b4a59  # the span tree of one request id, with timings",),
    "config": ("vod config", "vod config catalog --json"),
    "logs": ("vod logs catalog -f", "vod logs --grep 3f2a9c0d1e2b4a59"),
    "accounts create-user": (
        "VOD_PASSWORD='a long password' vod accounts create-user ada@example.com --plan basic",
        "vod accounts create-user ops@example.com --plan premium --admin --region GB",
    ),
    "login": ("vod login admin@vodmesh.local   # password from a prompt or VOD_PASSWORD",),
    "licensing rotate-master-key": (
        "vod licensing rotate-master-key   # new master key; content keys re-wrapped",
    ),
    "ingest": (
        "vod ingest movie.mp4 --title titles/my-film --wait",
        "vod ingest movie.mp4 --new-title 'My Film' --subtitles en=movie.en.vtt --wait",
        "vod ingest movie.mp4 --title titles/my-film --audio fr=movie.fr.m4a "
        "--audio 'en:English (AD)=movie.ad.m4a' --wait",
    ),
    "worker transcode": ("vod worker transcode       # one more worker on the encode queue",),
    "search": ('vod search "strnger thngs"', 'vod search drama --genre "Dramas" --region GB'),
    "suggest": ('vod suggest "the cr"',),
    "recs train": ("vod recs train              # train the LightFM model now",),
    "recs evaluate": (
        "vod recs evaluate --synthetic",
        "vod recs evaluate --movielens var/datasets/ml-100k/ratings.csv",
    ),
    "recs for": ("vod recs for users/ada/profiles/main",),
    "qoe report": ("vod qoe report titles/my-film --window-seconds 3600",),
}


def leaf_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every runnable command ("recs train") and its parser."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(p: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs and path:
            found[" ".join(path)] = p
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*path, name))

    walk(parser, ())
    return found


def apply(parser: argparse.ArgumentParser) -> None:
    """Each command's examples as its `--help` epilog (a command's own epilog is kept)."""
    for path, command in leaf_commands(parser).items():
        examples = EXAMPLES.get(path)
        if not examples or "Example" in (command.epilog or ""):
            continue
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        text = "examples:\n" + "\n".join(f"  {line}" for line in examples)
        command.epilog = f"{command.epilog}\n\n{text}" if command.epilog else text
