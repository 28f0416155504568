"""The safe expression language for conditions, timers, DMN cells and service parameters.

Tenants write expressions such as ``score >= 3 and not urgent`` or ``parse_date(review_on) <= today()``.
They are parsed with ``ast.parse(mode="eval")``, checked once against an allowlist of node types, and then
*interpreted* by walking the tree — nothing is ever passed to ``eval``/``exec``. There is no attribute access
at all (so no ``__class__`` escapes), calls only reach the functions in ``FUNCTIONS`` by bare name, and every
intermediate value is size-checked so that ``'a' * 10**9`` or ``9**9**9`` is refused before any work is done.

Sizes are *deep* (``engine.bounds``): ``['a' * 100000] * 10000`` is ten thousand references to one string and
refused as 10⁹ characters, because ``str()`` or serializing it would make them. Every value an evaluation makes
is measured and charged to its budget; operations that could grow a value are refused from their operands'
sizes before they run. Validation evaluates the constant parts of an expression with the same interpreter, so
a constant expression past the limits is refused when it is uploaded, not when a case reaches it.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..core.limits import shown
from .bounds import (
    MAX_INT,
    MAX_ITEMS,
    MAX_STR,
    MAX_VALUE,
    Budget,
    ExpressionTooLarge,
    require_size,
    size_of,
    too_large,
)
from .errors import ExpressionError
from .expression_functions import FUNCTIONS

MAX_SOURCE_CHARS = 2000
MAX_DEPTH = 50
MAX_NODES = 500
MAX_LITERAL_ITEMS = 200  # also the argument limit of min()/max(), see expression_functions
MAX_POW_EXPONENT = 10
MAX_POW_BASE = 10**6

# --- validation (once per source) -----------------------------------------------------------------------

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}
_UNARYOPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: lambda a: not a,
    ast.USub: lambda a: -a,
    ast.UAdd: lambda a: +a,
}
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "属性アクセスは使えません / attribute access is not allowed",
    ast.Lambda: "lambda は使えません / lambda is not allowed",
    ast.ListComp: "内包表記は使えません / comprehensions are not allowed",
    ast.SetComp: "内包表記は使えません / comprehensions are not allowed",
    ast.DictComp: "内包表記は使えません / comprehensions are not allowed",
    ast.GeneratorExp: "内包表記は使えません / comprehensions are not allowed",
    ast.NamedExpr: "代入式 := は使えません / assignment expressions are not allowed",
    ast.JoinedStr: "f 文字列は使えません / f-strings are not allowed",
    ast.Starred: "* 展開は使えません / starred expressions are not allowed",
    ast.Slice: "スライスは使えません / slices are not allowed",
    ast.Await: "await は使えません / await is not allowed",
    ast.Yield: "yield は使えません / yield is not allowed",
    ast.YieldFrom: "yield は使えません / yield is not allowed",
}
_OPERATOR_SYMBOLS: dict[type[ast.operator], str] = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}


_POW_MESSAGE = (
    f"** の指数は {MAX_POW_EXPONENT} 以下の数値定数にしてください / "
    f"the exponent of ** must be a constant number of at most {MAX_POW_EXPONENT}"
)


def _refuse(message: str) -> ExpressionError:
    return ExpressionError(message)


class _Validator:
    def __init__(self) -> None:
        self.nodes = 0

    def check(self, node: ast.AST, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _refuse(f"式が複雑すぎます（要素 {MAX_NODES} 個まで） / expression has too many parts")
        if depth > MAX_DEPTH:
            raise _refuse(f"式の入れ子が深すぎます（{MAX_DEPTH} 段まで） / expression is nested too deeply")
        handler = getattr(self, f"_check_{type(node).__name__}", None)
        if handler is None:
            message = _REFUSED.get(type(node))
            raise _refuse(message or f"使えない構文です / syntax '{type(node).__name__}' is not allowed")
        handler(node, depth + 1)

    def _check_Constant(self, node: ast.Constant, depth: int) -> None:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, str | float):
            return
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                raise _refuse("数値が大きすぎます / number is too large")
            return
        raise _refuse(f"使えない定数です / constant of type {type(value).__name__} is not allowed")

    def _check_Name(self, node: ast.Name, depth: int) -> None:
        if node.id.startswith("_"):
            raise _refuse(f"_ で始まる名前 {node.id} は使えません / name '{node.id}' is not allowed")

    def _check_BoolOp(self, node: ast.BoolOp, depth: int) -> None:
        for value in node.values:
            self.check(value, depth)

    def _check_UnaryOp(self, node: ast.UnaryOp, depth: int) -> None:
        if type(node.op) not in _UNARYOPS:
            raise _refuse("演算子 ~ は使えません / operator '~' is not allowed")
        self.check(node.operand, depth)

    def _check_BinOp(self, node: ast.BinOp, depth: int) -> None:
        if type(node.op) not in _BINOPS:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise _refuse(f"演算子 {symbol} は使えません / operator '{symbol}' is not allowed")
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub | ast.UAdd):
                exponent = exponent.operand
            if not isinstance(exponent, ast.Constant) or not isinstance(exponent.value, int | float):
                raise _refuse(_POW_MESSAGE)
            if abs(exponent.value) > MAX_POW_EXPONENT:
                raise _refuse(_POW_MESSAGE)
        self.check(node.left, depth)
        self.check(node.right, depth)

    def _check_Compare(self, node: ast.Compare, depth: int) -> None:
        self.check(node.left, depth)
        for comparator in node.comparators:
            self.check(comparator, depth)

    def _check_IfExp(self, node: ast.IfExp, depth: int) -> None:
        for child in (node.test, node.body, node.orelse):
            self.check(child, depth)

    def _check_Subscript(self, node: ast.Subscript, depth: int) -> None:
        index = node.slice
        negative = (
            isinstance(index, ast.UnaryOp)
            and isinstance(index.op, ast.USub)
            and isinstance(index.operand, ast.Constant)
        )
        if isinstance(index, ast.Slice):
            raise _refuse(_REFUSED[ast.Slice])
        if not (isinstance(index, ast.Constant | ast.Name) or negative):
            raise _refuse("添字は定数か変数名にしてください / an index must be a constant or a name")
        self.check(node.value, depth)
        self.check(index, depth)

    def _check_items(self, items: list[ast.expr], depth: int) -> None:
        if len(items) > MAX_LITERAL_ITEMS:
            raise _refuse(f"要素が多すぎます（{MAX_LITERAL_ITEMS} 個まで） / literal has too many items")
        for item in items:
            self.check(item, depth)

    def _check_List(self, node: ast.List, depth: int) -> None:
        self._check_items(node.elts, depth)

    def _check_Tuple(self, node: ast.Tuple, depth: int) -> None:
        self._check_items(node.elts, depth)

    def _check_Set(self, node: ast.Set, depth: int) -> None:
        self._check_items(node.elts, depth)

    def _check_Dict(self, node: ast.Dict, depth: int) -> None:
        if any(key is None for key in node.keys):
            raise _refuse("** 展開は使えません / ** unpacking is not allowed")
        self._check_items([k for k in node.keys if k is not None] + node.values, depth)

    def _check_Call(self, node: ast.Call, depth: int) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise _refuse(_REFUSED[ast.Attribute])
        if not isinstance(func, ast.Name):
            raise _refuse("関数は名前で直接呼び出してください / only calls by function name are allowed")
        spec = FUNCTIONS.get(func.id)
        if spec is None:
            raise _refuse(f"関数 {func.id} は使えません / function '{func.id}' is not allowed")
        for keyword in node.keywords:
            if keyword.arg is None or keyword.arg not in spec.keywords:
                name = keyword.arg or "**"
                raise _refuse(f"{func.id} の引数 {name} は使えません / argument '{name}' is not allowed")
        if not spec.min_args <= len(node.args) <= spec.max_args:
            raise _refuse(f"{func.id} の引数の数が違います / wrong number of arguments to {func.id}()")
        self._check_items(node.args, depth)
        for keyword in node.keywords:
            self.check(keyword.value, depth)


# --- evaluation -----------------------------------------------------------------------------------------


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INT:
            raise ExpressionTooLarge("計算結果の数値が大きすぎます / numeric result is too large")
    elif isinstance(value, str):
        if len(value) > MAX_STR:
            raise ExpressionTooLarge("計算結果の文字列が長すぎます / string result is too long")
    elif isinstance(value, list | tuple | set | frozenset | dict) and len(value) > MAX_ITEMS:
        raise ExpressionTooLarge("計算結果の要素が多すぎます / collection result is too large")
    return value


def _sequence_len(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _check_repetition(seq: Any, times: Any) -> None:
    length = _sequence_len(seq)
    if length is None or not isinstance(times, int) or length == 0 or times <= 0:
        return
    limit = MAX_STR if isinstance(seq, str) else MAX_ITEMS
    # Deep size too: [s] * n holds n references to s, and str() or serializing it writes s n times.
    if length * times > limit or size_of(seq, MAX_VALUE // times) * times > MAX_VALUE:
        raise ExpressionTooLarge("繰り返しの結果が大きすぎます / repetition result is too large")


def _check_concatenation(left: Any, right: Any) -> None:
    left_len, right_len = _sequence_len(left), _sequence_len(right)
    if left_len is None or right_len is None or type(left) is not type(right):
        return
    if left_len + right_len > (MAX_STR if isinstance(left, str) else MAX_ITEMS):
        raise ExpressionTooLarge("連結の結果が長すぎます / concatenation result is too long (too large)")
    if size_of(left) + size_of(right) > MAX_VALUE:
        raise ExpressionTooLarge("連結の結果が大きすぎます / concatenation result is too large")


def _binop(op: ast.operator, left: Any, right: Any) -> Any:
    """Refuse from the operands' sizes whatever could grow past the limits, then compute."""
    if isinstance(op, ast.Mult):
        _check_repetition(left, right)
        _check_repetition(right, left)
    elif isinstance(op, ast.Mod) and not isinstance(left, int | float):
        raise ExpressionError("% は数値の剰余だけに使えます / '%' is only allowed for numbers")
    elif isinstance(op, ast.Pow):
        if not isinstance(left, int | float) or not isinstance(right, int | float):
            raise ExpressionError("** は数値だけに使えます / '**' is only allowed for numbers")
        if abs(right) > MAX_POW_EXPONENT or abs(left) > MAX_POW_BASE:
            raise ExpressionTooLarge("** の値が大きすぎます / operands of '**' are too large")
    elif isinstance(op, ast.Add):
        _check_concatenation(left, right)
    return _bounded(_BINOPS[type(op)](left, right))


class _Interpreter:
    """Walks a validated tree. Names and subscripts return references to the data (free); every value the
    expression makes is charged to ``budget`` by its deep size."""

    def __init__(self, names: Mapping[str, Any], budget: Budget) -> None:
        self.names = names
        self.budget = budget

    def run(self, node: ast.AST) -> Any:
        return getattr(self, f"_eval_{type(node).__name__}")(node)

    def _made(self, value: Any) -> Any:
        return self.budget.charge(value)

    def _items(self, nodes: list[ast.expr]) -> list[Any]:
        """Evaluate the items of a literal, refusing as soon as they are too large together."""
        values, total = [], 0
        for node in nodes:
            value = self.run(node)
            total += size_of(value, MAX_VALUE - total)
            if total > MAX_VALUE:
                raise too_large()
            values.append(value)
        return values

    def _eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _eval_Name(self, node: ast.Name) -> Any:
        try:
            return self.names[node.id]
        except KeyError:
            raise ExpressionError(f"変数 {node.id} がありません / name '{node.id}' is not defined") from None

    def _eval_BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value in node.values:
            result = self.run(value)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return self._made(_bounded(_UNARYOPS[type(node.op)](self.run(node.operand))))

    def _eval_BinOp(self, node: ast.BinOp) -> Any:
        return self._made(_binop(node.op, self.run(node.left), self.run(node.right)))

    def _eval_Compare(self, node: ast.Compare) -> bool:
        left = self.run(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.run(comparator)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.run(node.body) if self.run(node.test) else self.run(node.orelse)

    def _eval_Subscript(self, node: ast.Subscript) -> Any:
        container = self.run(node.value)
        index = self.run(node.slice)
        if not isinstance(container, dict | list | tuple | str):
            raise ExpressionError(
                f"{type(container).__name__} には添字を使えません / value is not subscriptable"
            )
        try:
            return container[index]
        except (KeyError, IndexError):
            raise ExpressionError(f"{shown(index)} がありません / {shown(index)} not found") from None

    def _eval_List(self, node: ast.List) -> list[Any]:
        return self._made(self._items(node.elts))  # type: ignore[no-any-return]

    def _eval_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return self._made(tuple(self._items(node.elts)))  # type: ignore[no-any-return]

    def _eval_Set(self, node: ast.Set) -> set[Any]:
        return self._made(set(self._items(node.elts)))  # type: ignore[no-any-return]

    def _eval_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        keys = [k for k in node.keys if k is not None]  # ** unpacking is refused by _Validator
        flat = self._items([*keys, *node.values])
        return self._made(dict(zip(flat[: len(keys)], flat[len(keys) :], strict=True)))  # type: ignore[no-any-return]

    def _eval_Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)  # guaranteed by _Validator
        spec = FUNCTIONS[node.func.id]
        args = [self.run(a) for a in node.args]  # references are free; what the call may grow is checked
        kwargs = {k.arg: self.run(k.value) for k in node.keywords if k.arg is not None}
        if spec.check is not None:
            spec.check(*args, **kwargs)
        return self._made(_bounded(spec.fn(*args, **kwargs)))


def _failure(source: str, exc: BaseException) -> ExpressionError:
    """The ``ExpressionError`` for whatever else an evaluation raised."""
    if isinstance(exc, ExpressionError):
        return exc
    if isinstance(exc, ZeroDivisionError):
        return ExpressionError("0 で割ることはできません / division by zero")
    if isinstance(exc, MemoryError):  # not expected within the limits; never left to take a worker down
        return too_large("値（メモリ不足）", "value (out of memory)")
    if isinstance(exc, RecursionError):
        return ExpressionError("値の入れ子が深すぎます / value nested too deeply to evaluate")
    text = source if len(source) <= 200 else source[:200] + "…"
    return ExpressionError(f"式を評価できません / cannot evaluate '{text}': {str(exc)[:200]}")


_EVALUATION_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, RecursionError, MemoryError)


@dataclass(frozen=True)
class CompiledExpression:
    """A validated expression; ``evaluate`` may be called any number of times with different data."""

    source: str
    tree: ast.Expression

    def evaluate(self, data: Mapping[str, Any]) -> Any:
        """The value over ``data``, within the limits of ``engine.bounds`` (a reference to large data
        is refused too: what an expression returns is stored in the workflow), or ``ExpressionError``."""
        try:
            return require_size(_Interpreter(data, Budget()).run(self.tree.body), "式の結果", "result")
        except ExpressionError:
            raise
        except _EVALUATION_ERRORS as exc:
            raise _failure(self.source, exc) from None


def _check_bracket_depth(source: str) -> None:
    # The AST forgets redundant parentheses, so "((((1))))" is counted on the tokens instead.
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"括弧の入れ子が深すぎます（{MAX_DEPTH} 段まで） / brackets are nested too deeply"
                )
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1


def _constant_nodes(node: ast.AST, found: set[int]) -> bool:
    """Collect the ids of the sub-expressions that read no name (function names are not reads)."""
    if isinstance(node, ast.Call):
        children: list[ast.AST] = [*node.args, *(k.value for k in node.keywords)]
    else:
        children = list(ast.iter_child_nodes(node))
    constant = all([_constant_nodes(child, found) for child in children]) and not isinstance(node, ast.Name)
    if constant:
        found.add(id(node))
    return constant


def _fold_constants(root: ast.AST, source: str) -> None:
    """Evaluate each largest constant sub-expression with the bounded interpreter (one budget for all of
    them): one past the size limits refuses the expression now. Other failures (``1 / 0`` in a branch never
    taken) are left for run time, as before."""
    constant: set[int] = set()
    _constant_nodes(root, constant)
    interpreter = _Interpreter({}, Budget())
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) not in constant:
            if isinstance(node, ast.Call):
                pending.extend([*node.args, *(k.value for k in node.keywords)])
            else:
                pending.extend(ast.iter_child_nodes(node))
            continue
        if not isinstance(node, ast.expr) or isinstance(node, ast.Constant):
            continue  # operators, contexts; literals are bounded by the source
        try:
            require_size(interpreter.run(node), "式の結果", "result")
        except ExpressionTooLarge:
            raise
        except ExpressionError:
            continue
        except _EVALUATION_ERRORS as exc:
            failure = _failure(source, exc)
            if isinstance(failure, ExpressionTooLarge):
                raise failure from None


@lru_cache(maxsize=2048)
def _compile(source: str) -> CompiledExpression:
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"式が長すぎます（{MAX_SOURCE_CHARS} 文字まで） / expression is too long")
    if not source.strip():
        raise ExpressionError("式が空です / expression is empty", syntax=True)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"式の書き方が正しくありません / invalid syntax: {exc.msg}", syntax=True
        ) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError("式が複雑すぎます / expression is too complex") from None
    _check_bracket_depth(source)
    _Validator().check(tree.body, 1)
    _fold_constants(tree.body, source)
    return CompiledExpression(source, tree)


def compile_expression(source: str) -> CompiledExpression:
    """Validate ``source`` against the allowlist (cached) or raise ``ExpressionError``."""
    if not isinstance(source, str):
        raise ExpressionError("式は文字列で書いてください / expression must be a string")
    return _compile(source)


def evaluate(source: str, data: Mapping[str, Any]) -> Any:
    """Evaluate ``source`` over ``data`` (task data: variable name → value)."""
    return compile_expression(source).evaluate(data)


__all__ = ["FUNCTIONS", "CompiledExpression", "compile_expression", "evaluate"]
