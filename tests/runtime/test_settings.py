"""Settings declared once (`setting(variable, default)`) and read by `from_env`: every type the
services use, nested settings, given values, and refusals that name the variable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from services.runtime.config import from_env, setting


@dataclass(frozen=True)
class Inner:
    limit: int = setting("VOD_T_LIMIT", 5)


@dataclass(frozen=True)
class Outer:
    name: str
    text: str = setting("VOD_T_TEXT", "a")
    ratio: float = setting("VOD_T_RATIO", 0.5)
    on: bool = setting("VOD_T_ON", True)
    folder: Path = setting("VOD_T_FOLDER", Path("var/x"))
    layers: tuple[str, ...] = setting("VOD_T_LAYERS", ("one", "two"))
    key: str = setting("VOD_T_KEY", "", secret=True)
    inner: Inner = Inner()
    plain: int = 7


def test_defaults_without_the_environment() -> None:
    assert from_env(Outer, {}, name="n") == Outer(name="n")


def test_each_type_is_read_from_its_variable() -> None:
    env = {
        "VOD_T_TEXT": " b ",
        "VOD_T_RATIO": "0.25",
        "VOD_T_ON": "off",
        "VOD_T_FOLDER": "/tmp/y",
        "VOD_T_LAYERS": "a, b,,c",
        "VOD_T_KEY": "hush",
        "VOD_T_LIMIT": "9",
    }
    got = from_env(Outer, env, name="n")
    assert got == Outer(
        name="n",
        text="b",
        ratio=0.25,
        on=False,
        folder=Path("/tmp/y"),
        layers=("a", "b", "c"),
        key="hush",
        inner=Inner(limit=9),
    )
    assert "hush" not in repr(got)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VOD_T_RATIO", "half"), ("VOD_T_ON", "maybe"), ("VOD_T_LIMIT", "1e3")],
)
def test_bad_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        from_env(Outer, {variable: value}, name="n")


def test_given_values_win_and_unknown_ones_are_refused() -> None:
    assert from_env(Outer, {"VOD_T_TEXT": "env"}, name="n", text="given").text == "given"
    with pytest.raises(TypeError, match="nosuch"):
        from_env(Outer, {}, name="n", nosuch=1)
