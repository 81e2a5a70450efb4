"""The filter expression language: a small, safe language parsed into a checked tree.

Definitions never execute code. A filter such as::

    previous_referral_date is not null and referral_date <= add_months(previous_referral_date, 12)

is tokenised and parsed here into :class:`Node` objects; anything outside the grammar (attribute
access, indexing, unknown functions, Python keywords) is rejected with the position of the
offending token. The engine evaluates the tree over whole columns (``kpi_engine.evaluate``).

Grammar (lowest precedence first)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum ( ("=="|"!="|"<"|"<="|">"|">=") sum
                      | ["not"] "in" "[" literal ("," literal)* "]"
                      | "is" ["not"] "null" )?
    sum        := product (("+"|"-") product)*
    product    := unary (("*"|"/") unary)*
    unary      := "-" unary | atom
    atom       := NUMBER | STRING | "true" | "false" | "null"
                | NAME | NAME "(" args ")" | "(" expr ")"

``period_end`` names the last day of the period being computed. So that every period can be
computed in one pass, it may only appear as one side of a comparison whose other side does not
mention it (``period_end >= add_years(date_of_birth, 16)``), combined with other terms by ``and``.

Limits: an expression is at most :data:`MAX_LENGTH` characters and nests at most
:data:`MAX_DEPTH` levels (brackets, ``not``, ``-``, and chains of operators such as
``a + b + c``, which build a tree as deep as they are long). Real filters are under 200
characters and 10 levels; the limits keep the recursive parser, checker and evaluator far from
Python's recursion limit whatever a definition file holds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

ValueType = Literal["number", "string", "bool", "date", "datetime", "null"]

PERIOD_NAMES = ("period_end",)
KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
COMPARISON_OPS = ("==", "!=", "<=", ">=", "<", ">")
MAX_LENGTH = 4_000
"""Characters in one expression."""
MAX_DEPTH = 40
"""Nesting levels of one expression's tree."""
# Python words that are never names here: named in the error so the intent is obvious.
_FORBIDDEN_WORDS = {"import", "lambda", "def", "class", "exec", "eval", "__import__", "if", "else"}


class ExpressionError(ValueError):
    """A filter that does not parse or does not type-check, with the 1-based column of the fault."""

    def __init__(self, message: str, position: int, text: str) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.text = text

    def __str__(self) -> str:
        return f"column {self.position}: {self.message}"


# --- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: Literal["number", "string", "name", "op", "end"]
    value: str
    position: int  # 1-based column within the expression


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)

_UNSUPPORTED_CHARS = {
    ".": "attribute access is not allowed",
    "=": "use '==' to compare",
    "{": "braces are not part of the language",
    "}": "braces are not part of the language",
    ":": "':' is not part of the language",
    ";": "';' is not part of the language",
    "@": "'@' is not part of the language",
    "!": "use 'not' for negation",
    "&": "use 'and'",
    "|": "use 'or'",
    "%": "'%' is not part of the language",
    "`": "backticks are not part of the language",
}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; an unknown character is an error at its position."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            reason = _UNSUPPORTED_CHARS.get(ch, "unexpected character")
            # a '.' after a number would be a malformed decimal, not attribute access
            if ch == "." and tokens and tokens[-1].kind == "number":
                reason = "malformed number"
            raise ExpressionError(f"{reason} (got {ch!r})", pos + 1, text)
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            value = m.group()
            if kind == "string":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            tokens.append(Token(kind, value, pos + 1))  # type: ignore[arg-type]
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def substitute(text: str, constants: Mapping[str, float]) -> str:
    """``text`` with each name in ``constants`` replaced by its number (a definition's
    ``parameters``), token by token, so the engine sees the literal it would have seen had the
    value been written in place."""
    if not constants:
        return text
    out = text
    for t in reversed(tokenize(text)):
        if t.kind == "name" and t.value in constants:
            start = t.position - 1
            out = out[:start] + number_text(constants[t.value]) + out[start + len(t.value) :]
    return out


def number_text(value: float) -> str:
    """A number as the language writes it (no exponent: 0.00001, not 1e-05)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10f}".rstrip("0")


# --- tree -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """Base of the expression tree. ``position`` is the 1-based column where the node starts."""

    position: int

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass(frozen=True)
class Literal_(Node):
    value: float | str | bool | None


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Call(Node):
    function: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True)
class Unary(Node):
    op: Literal["-", "not"]
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class Binary(Node):
    op: str  # arithmetic or comparison operator
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True)
class Logical(Node):
    op: Literal["and", "or"]
    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    values: tuple[float | str | bool, ...]
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


# --- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(
                f"the expression is {len(text):,} characters long (limit {MAX_LENGTH:,})", 1, text
            )
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def nest(self) -> None:
        """Enter one level of the grammar's recursion (brackets, arguments, not, minus)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep (limit {MAX_DEPTH})")

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, token: Token | None = None) -> ExpressionError:
        t = token or self.tok
        return ExpressionError(message, t.position, self.text)

    def is_word(self, word: str) -> bool:
        return self.tok.kind == "name" and self.tok.value == word

    def is_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.value == op

    def advance(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"expected '{op}' (got {_describe(self.tok)})")
        return self.advance()

    def parse(self) -> Node:
        if self.tokens[0].kind == "end":
            raise self.error("empty expression")
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {_describe(self.tok)}")
        return node

    def parse_or(self) -> Node:
        self.nest()
        first = self.parse_and()
        operands = [first]
        while self.is_word("or"):
            self.advance()
            operands.append(self.parse_and())
        self.depth -= 1
        return first if len(operands) == 1 else Logical(first.position, "or", tuple(operands))

    def parse_and(self) -> Node:
        first = self.parse_not()
        operands = [first]
        while self.is_word("and"):
            self.advance()
            operands.append(self.parse_not())
        return first if len(operands) == 1 else Logical(first.position, "and", tuple(operands))

    def parse_not(self) -> Node:
        if self.is_word("not"):
            t = self.advance()
            self.nest()
            node = Unary(t.position, "not", self.parse_not())
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_sum()
        if self.tok.kind == "op" and self.tok.value in COMPARISON_OPS:
            op = self.advance().value
            right = self.parse_sum()
            if self.tok.kind == "op" and self.tok.value in COMPARISON_OPS:
                raise self.error("chained comparisons are not allowed; use 'and'")
            return Binary(left.position, op, left, right)
        if self.is_word("in") or (
            self.is_word("not")
            and self.tokens[self.i + 1].kind == "name"
            and self.tokens[self.i + 1].value == "in"
        ):
            negated = self.is_word("not")
            if negated:
                self.advance()
            self.advance()
            return InList(left.position, left, self.parse_list(), negated)
        if self.is_word("is"):
            self.advance()
            negated = False
            if self.is_word("not"):
                self.advance()
                negated = True
            if not self.is_word("null"):
                raise self.error(f"expected 'null' after 'is' (got {_describe(self.tok)})")
            self.advance()
            return IsNull(left.position, left, negated)
        return left

    def parse_list(self) -> tuple[float | str | bool, ...]:
        self.expect_op("[")
        values: list[float | str | bool] = []
        while True:
            t = self.tok
            negative = False
            if self.is_op("-"):
                negative = True
                self.advance()
                t = self.tok
            if t.kind == "number":
                self.advance()
                values.append(-float(t.value) if negative else float(t.value))
            elif t.kind == "string" and not negative:
                self.advance()
                values.append(t.value)
            elif t.kind == "name" and t.value in ("true", "false") and not negative:
                self.advance()
                values.append(t.value == "true")
            else:
                raise self.error(f"a list holds literal values only (got {_describe(t)})", t)
            if self.is_op(","):
                self.advance()
                continue
            self.expect_op("]")
            break
        return tuple(values)

    def parse_sum(self) -> Node:
        node = self.parse_product()
        chained = 0
        while self.is_op("+") or self.is_op("-"):
            chained = self.chain(chained)
            op = self.advance().value
            node = Binary(node.position, op, node, self.parse_product())
        return node

    def parse_product(self) -> Node:
        node = self.parse_unary()
        chained = 0
        while self.is_op("*") or self.is_op("/"):
            chained = self.chain(chained)
            op = self.advance().value
            node = Binary(node.position, op, node, self.parse_unary())
        return node

    def chain(self, chained: int) -> int:
        """One more operator in ``a + b + c ...``: each nests the tree a level deeper."""
        if chained + self.depth + 2 > MAX_DEPTH:  # the chain, a comparison above, a leaf below
            raise self.error(
                f"nested more than {MAX_DEPTH} levels deep, each operator of a chain a level "
                f"(limit {MAX_DEPTH})"
            )
        return chained + 1

    def parse_unary(self) -> Node:
        if self.is_op("-"):
            t = self.advance()
            self.nest()
            node = Unary(t.position, "-", self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_atom()

    def parse_atom(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self.advance()
            return Literal_(t.position, float(t.value))
        if t.kind == "string":
            self.advance()
            return Literal_(t.position, t.value)
        if self.is_op("("):
            self.advance()
            node = self.parse_or()
            self.expect_op(")")
            return node
        if t.kind == "name":
            if t.value in ("true", "false"):
                self.advance()
                return Literal_(t.position, t.value == "true")
            if t.value == "null":
                self.advance()
                return Literal_(t.position, None)
            if t.value in KEYWORDS:
                raise self.error(f"unexpected keyword '{t.value}'")
            if t.value in _FORBIDDEN_WORDS or t.value.startswith("__"):
                raise self.error(f"'{t.value}' is not part of the filter language")
            self.advance()
            if self.is_op("("):
                self.advance()
                args: list[Node] = []
                if not self.is_op(")"):
                    while True:
                        args.append(self.parse_or())
                        if self.is_op(","):
                            self.advance()
                            continue
                        break
                self.expect_op(")")
                return Call(t.position, t.value, tuple(args))
            return Name(t.position, t.value)
        if t.kind == "end":
            raise self.error("unexpected end of expression")
        if self.is_op("["):
            raise self.error("indexing is not allowed; lists only follow 'in'")
        raise self.error(f"unexpected {_describe(t)}")


def _describe(t: Token) -> str:
    if t.kind == "end":
        return "end of expression"
    if t.kind == "string":
        return f"string {t.value!r}"
    return f"'{t.value}'"


def depth(node: Node) -> int:
    """Levels of the tree under ``node``, counted without recursion (chains can be long)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        n, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in n.children())
    return deepest


def parse(text: str) -> Node:
    """Parse ``text`` into a tree (syntax only; see :func:`check` for names and types).

    Raises ExpressionError past :data:`MAX_LENGTH` or :data:`MAX_DEPTH`.
    """
    tree = _Parser(text).parse()
    levels = depth(tree)
    if levels > MAX_DEPTH:  # brackets within chains within brackets ...
        raise ExpressionError(
            f"the expression nests {levels} levels deep (limit {MAX_DEPTH})", tree.position, text
        )
    return tree


# --- functions and type checking ---------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A function the language offers: its argument types, result type and meaning."""

    args: tuple[tuple[ValueType, ...], ...]
    """Accepted types for each argument, in order."""
    result: ValueType
    doc: str


_DATE: tuple[ValueType, ...] = ("date", "datetime")
_NUMBER: tuple[ValueType, ...] = ("number",)
FUNCTIONS: dict[str, Function] = {
    "add_days": Function((_DATE, _NUMBER), "date", "the date plus N calendar days"),
    "add_months": Function((_DATE, _NUMBER), "date", "the date plus N calendar months"),
    "add_years": Function((_DATE, _NUMBER), "date", "the date plus N years"),
    "days_between": Function(
        (_DATE, _DATE), "number", "calendar days from the first to the second"
    ),
    "hours_between": Function((_DATE, _DATE), "number", "hours from the first to the second"),
    "working_days_between": Function(
        (_DATE, _DATE),
        "number",
        "working days after the first date up to and including the second "
        "(weekends and England and Wales bank holidays excluded)",
    ),
    "age_at": Function((_DATE, _DATE), "number", "whole years of age on the second date"),
    "date": Function((("string",),), "date", "a date literal: date('2015-04-01')"),
    "if_else": Function(
        (("bool",), ("number", "string", "date"), ("number", "string", "date")),
        "number",
        "the second argument where the condition holds, else the third",
    ),
    "coalesce": Function(
        (("number", "string", "date", "bool"), ("number", "string", "date", "bool")),
        "number",
        "the first argument, or the second where the first is null",
    ),
}


SHIFT_LIMITS = {"add_days": 36_600, "add_months": 1_200, "add_years": 100}
"""How far the date functions move a date (100 years): beyond it a date leaves the calendar
the engine holds (years 1677-2262). A literal beyond it is a definition error; a value from a
column beyond it gives null."""


def _names_in(node: Node) -> set[str]:
    return {n.name for n in node.walk() if isinstance(n, Name)}


def mentions_period(node: Node) -> bool:
    """Whether ``node`` depends on the period being computed."""
    return any(name in PERIOD_NAMES for name in _names_in(node))


Closest = Callable[[str, list[str]], str | None]


class _Checker:
    """Infers the type of each node, collecting every problem rather than stopping at the first."""

    def __init__(self, text: str, columns: Mapping[str, ValueType], closest: Closest | None):
        self.text = text
        self.columns = columns
        self.closest = closest
        self.errors: list[ExpressionError] = []

    def err(self, message: str, at: Node) -> None:
        self.errors.append(ExpressionError(message, at.position, self.text))

    def hint(self, word: str, choices: list[str]) -> str:
        found = self.closest(word, choices) if self.closest else None
        return f"; did you mean '{found}'?" if found else ""

    def type_of(self, n: Node) -> ValueType | None:
        if isinstance(n, Literal_):
            if n.value is None:
                return "null"
            if isinstance(n.value, bool):
                return "bool"
            return "number" if isinstance(n.value, float) else "string"
        if isinstance(n, Name):
            if n.name in PERIOD_NAMES:
                return "date"
            if n.name in self.columns:
                return self.columns[n.name]
            hint = self.hint(n.name, [*self.columns, *PERIOD_NAMES])
            self.err(f"unknown column or derived field '{n.name}'{hint}", n)
            return None
        if isinstance(n, Call):
            return self.call_type(n)
        if isinstance(n, Unary):
            t = self.type_of(n.operand)
            if n.op == "not":
                if t not in (None, "bool"):
                    self.err(f"'not' needs a condition (got {t})", n)
                return "bool"
            if t not in (None, "number"):
                self.err(f"'-' needs a number (got {t})", n)
            return "number"
        if isinstance(n, Logical):
            for operand in n.operands:
                t = self.type_of(operand)
                if t not in (None, "bool"):
                    self.err(f"'{n.op}' joins conditions (got {t})", operand)
            return "bool"
        if isinstance(n, InList):
            t = self.type_of(n.operand)
            for v in n.values:
                vt = (
                    "bool"
                    if isinstance(v, bool)
                    else "number"
                    if isinstance(v, float)
                    else "string"
                )
                if t is not None and t != vt:
                    self.err(f"list value {v!r} is {vt} but the tested value is {t}", n)
                    break
            return "bool"
        if isinstance(n, IsNull):
            self.type_of(n.operand)
            return "bool"
        if isinstance(n, Binary):
            return self.binary_type(n)
        raise AssertionError(f"unhandled node {n!r}")  # pragma: no cover

    def call_type(self, n: Call) -> ValueType | None:
        fn = FUNCTIONS.get(n.function)
        if fn is None:
            self.err(f"unknown function '{n.function}'{self.hint(n.function, list(FUNCTIONS))}", n)
            for a in n.args:
                self.type_of(a)
            return None
        if len(n.args) != len(fn.args):
            self.err(f"{n.function}() takes {len(fn.args)} arguments (got {len(n.args)})", n)
            return fn.result
        types: list[ValueType | None] = []
        for i, (arg, allowed) in enumerate(zip(n.args, fn.args, strict=True)):
            t = self.type_of(arg)
            types.append(t)
            if n.function == "date":
                value = arg.value if isinstance(arg, Literal_) else None
                if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
                    self.err("date() takes a quoted ISO date such as '2015-04-01'", arg)
                elif not _plausible_date(value):
                    self.err(f"date() needs a real date from 1900 to 2250 (got {value!r})", arg)
            elif t is not None and t != "null" and t not in allowed:
                self.err(
                    f"argument {i + 1} of {n.function}() must be {' or '.join(allowed)} (got {t})",
                    arg,
                )
        self.check_shift(n)
        if n.function in ("if_else", "coalesce"):
            # the result has the type of the value arguments, which must agree
            one, other = types[-2], types[-1]
            known = one not in (None, "null") and other not in (None, "null")
            if known and _family(one) != _family(other):  # type: ignore[arg-type]
                self.err(
                    f"{n.function}() gives {one} or {other}: both values must be of one type", n
                )
            return types[1] if types[1] != "null" else types[-1]
        return fn.result

    def check_shift(self, n: Call) -> None:
        """A literal date shift beyond :data:`SHIFT_LIMITS` (a column's is null at run time)."""
        limit = SHIFT_LIMITS.get(n.function)
        if limit is None or len(n.args) != 2:
            return
        shift = n.args[1]
        if isinstance(shift, Unary) and shift.op == "-":
            shift = shift.operand
        if not isinstance(shift, Literal_):
            return
        if isinstance(shift.value, float) and abs(shift.value) > limit:
            unit = n.function.removeprefix("add_")
            got = number_text(shift.value)
            self.err(f"{n.function}() moves a date at most {limit:,} {unit} (got {got})", shift)

    def binary_type(self, n: Binary) -> ValueType | None:
        lt, rt = self.type_of(n.left), self.type_of(n.right)
        if n.op in COMPARISON_OPS:
            if "null" in (lt, rt):
                self.err("compare with null using 'is null' or 'is not null'", n)
            elif lt is not None and rt is not None:
                if _family(lt) != _family(rt):
                    self.err(f"cannot compare {lt} with {rt}", n)
                elif lt == "bool" and n.op not in ("==", "!="):
                    self.err(f"'{n.op}' does not apply to true/false values", n)
            return "bool"
        if lt is not None and rt is not None and (lt != "number" or rt != "number"):
            self.err(f"'{n.op}' needs numbers (got {lt} and {rt}); use the date functions", n)
        return "number"


def check(
    node: Node, text: str, columns: Mapping[str, ValueType], *, closest: Closest | None = None
) -> list[ExpressionError]:
    """Type-check a filter against the ``columns`` available; return every problem found.

    The expression as a whole must be a condition (bool). ``period_end`` may only be compared
    directly (see the module docstring).
    """
    checker = _Checker(text, columns, closest)
    result = checker.type_of(node)
    if result is not None and result != "bool":
        checker.err(f"a filter must be a condition (true or false), not a {result}", node)
    _check_period_use(node, checker.err)
    return checker.errors


def check_value(
    node: Node,
    text: str,
    columns: Mapping[str, ValueType],
    want: tuple[ValueType, ...],
    *,
    closest: Closest | None = None,
) -> list[ExpressionError]:
    """Type-check an expression that yields a value (a date to window on, a number to sum)."""
    checker = _Checker(text, columns, closest)
    result = checker.type_of(node)
    if result is not None and result not in want:
        checker.err(f"must be {' or '.join(want)} (got {result})", node)
    if mentions_period(node):
        checker.err("period_end is not allowed here", node)
    return checker.errors


def _plausible_date(text: str) -> bool:
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        return False
    return 1900 <= value.year <= 2250  # the engine holds 1677-2262; 2200 is a "never" date


def _family(t: ValueType) -> str:
    return "date" if t in ("date", "datetime") else t


def _check_period_use(node: Node, err: Callable[[str, Node], None]) -> None:
    """``period_end`` only as a bare side of a comparison, under ``and`` (not ``or``/``not``)."""

    def visit(n: Node, under_and_only: bool) -> None:
        if isinstance(n, Binary) and n.op in COMPARISON_OPS and mentions_period(n):
            bare_left = isinstance(n.left, Name) and n.left.name in PERIOD_NAMES
            bare_right = isinstance(n.right, Name) and n.right.name in PERIOD_NAMES
            other = n.right if bare_left else n.left
            if not (bare_left or bare_right) or mentions_period(other) or n.op in ("==", "!="):
                err(
                    "period_end may only be compared directly with a date that does not depend "
                    "on it, e.g. 'period_end >= add_years(date_of_birth, 16)'",
                    n,
                )
            elif not under_and_only:
                err("a comparison with period_end can only be combined using 'and'", n)
            return
        if isinstance(n, Logical):
            for operand in n.operands:
                visit(operand, under_and_only and n.op == "and")
            return
        if isinstance(n, Unary) and n.op == "not":
            visit(n.operand, False)
            return
        if mentions_period(n):
            err("period_end may only be used in a comparison such as 'period_end >= DATE'", n)

    visit(node, True)


# --- normal form (used by diff: meaning, not text) ---------------------------------------------


def normalise(node: Node) -> str:
    """A canonical string for ``node``: commutative operands sorted, quotes and spacing folded.

    Two filters with the same normal form mean the same thing (``a and b`` == ``b and a``).
    """
    if isinstance(node, Literal_):
        if node.value is None:
            return "null"
        if isinstance(node.value, bool):
            return "true" if node.value else "false"
        if isinstance(node.value, float):
            return repr(node.value)
        return repr(node.value)
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Call):
        return f"{node.function}({', '.join(normalise(a) for a in node.args)})"
    if isinstance(node, Unary):
        return f"({node.op} {normalise(node.operand)})"
    if isinstance(node, Logical):
        parts: list[str] = []
        for operand in node.operands:
            # flatten nested and/or of the same kind: (a and b) and c == a and b and c
            if isinstance(operand, Logical) and operand.op == node.op:
                inner = normalise(operand)[1:-1].split(f" {node.op} ")
                parts.extend(inner)
            else:
                parts.append(normalise(operand))
        return "(" + f" {node.op} ".join(sorted(set(parts))) + ")"
    if isinstance(node, InList):
        values = sorted({repr(v) for v in node.values})
        word = "not in" if node.negated else "in"
        return f"({normalise(node.operand)} {word} [{', '.join(values)}])"
    if isinstance(node, IsNull):
        return f"({normalise(node.operand)} is {'not ' if node.negated else ''}null)"
    if isinstance(node, Binary):
        left, right = normalise(node.left), normalise(node.right)
        op = node.op
        if op in ("==", "!=", "+", "*") and right < left:
            left, right = right, left
        flipped = {">": "<", ">=": "<="}
        if op in flipped:  # a > b is b < a
            left, right, op = right, left, flipped[op]
        return f"({left} {op} {right})"
    raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover


def normalise_text(text: str | None) -> str | None:
    """The normal form of an expression's text, or None for no expression."""
    return None if text is None else normalise(parse(text))
