"""Definition set names and indicator ids as the user types them: checked, completed, suggested.

A set name or indicator id that does not exist is a usage error (exit 2) in every command, with
the choices and the closest named: the user mistyped, nothing is wrong with the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.shell_completion import CompletionItem

from kpi_engine import load_definitions
from kpi_engine.definitions import DefinitionSet
from kpi_engine.locations import UnknownSetError, available_sets, resolve_set
from kpi_engine.validation import DefinitionError, closest

if TYPE_CHECKING:
    _ParamType = click.ParamType[str, Any]  # generic from click 8.2; the floor is 8.1
else:
    _ParamType = click.ParamType


class SetName(_ParamType):
    """A definition set: a name under the definitions root, or a folder."""

    name = "SET"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            resolve_set(str(value))
        except UnknownSetError as e:
            self.fail(e.problems[0].message, param, ctx)
        return str(value)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        names = [CompletionItem(n) for n in available_sets() if n.startswith(incomplete)]
        return [*names, CompletionItem(incomplete, type="dir")]


SET_NAME = SetName()


_Command = TypeVar("_Command", bound=Callable[..., Any])


def extracts_option() -> Callable[[_Command], _Command]:
    """``--extracts DIR``, as every command that reads an extract takes it."""
    return click.option(
        "--extracts",
        type=click.Path(path_type=Path),
        default=None,
        help="Case-level extract folder [default: the shipped sample_data].",
    )


def definitions_option(default: str) -> Callable[[_Command], _Command]:
    """``--definitions SET``: a set name (checked, completed, suggested) or a folder."""
    return click.option(
        "--definitions",
        type=SET_NAME,
        default=default,
        show_default=True,
        help="Definition set name or folder.",
    )


def no_indicator(indicator_id: str, searched: Sequence[DefinitionSet]) -> str:
    """Why ``indicator_id`` was not found, with the nearest id, or the other sets that have it."""
    where = ", ".join(s.name for s in searched) or "any set"
    text = f"no indicator {indicator_id!r} in {where}"
    elsewhere = [name for name in available_sets() if name not in {s.name for s in searched}]
    holding = [name for name in elsewhere if _holds(name, indicator_id)]
    if holding:
        return text + f"; it is in {' and '.join(holding)} (--definitions {holding[0]})"
    hint = closest(indicator_id, [i for s in searched for i in s.ids])
    return text + (f"; did you mean {hint!r}?" if hint else "")


def _holds(set_name: str, indicator_id: str) -> bool:
    try:
        return indicator_id in load_definitions(set_name).ids
    except DefinitionError:
        return False


def no_cache_option() -> Callable[[_Command], _Command]:
    """``--no-cache``: load the extract's files afresh, not its prepared copy."""
    return click.option(
        "--no-cache", is_flag=True, help="Load the extract afresh (no prepared copy; KPI_CACHE=0)."
    )
