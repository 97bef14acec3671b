"""Objective expressions: a small arithmetic language over named torch tensors.

An airfoil problem's `[objective] expression` comes from a file the user may have been
sent, so it is data, never code. `parse` reads it once, when the problem is read, with
Python's `ast` module and accepts only:

- finite numeric literals (`2`, `1.5`, `1e-3`; no strings, booleans or complex numbers);
- the names the caller allows (the predicted quantities), none starting with `__`;
- binary `+ - * / **`, unary `-` and `+`, comparisons `< <= > >= == !=` (chains too;
  a comparison gives 1.0 where it holds and 0.0 elsewhere);
- calls of FUNCTIONS by name with positional arguments, in the number each takes.

Everything else (attributes, subscripts, comprehensions, lambdas, `:=`, conditionals,
`and`/`or`, keyword or starred arguments, strings and f-strings, any other name or
operator, more than MAX_LENGTH characters or MAX_DEPTH levels of nesting) is an
InputError naming the offending part. What `parse` returns is a tree of plain tuples that
`Expression.evaluate` walks over torch tensors; the text is never compiled or evaluated.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass

from phenograd.core.errors import InputError

MAX_LENGTH = 2000
MAX_DEPTH = 50

#: The functions (torch's of the same name) -> (least, most positional arguments).
FUNCTIONS = {
    "sum": (1, 1),
    "mean": (1, 1),
    "exp": (1, 1),
    "log": (1, 1),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "maximum": (2, 2),
    "minimum": (2, 2),
    "clamp": (2, 3),
    "max": (1, 2),
    "min": (1, 2),
}

_BINARY = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow),
}
_UNARY = {ast.USub: ("-", operator.neg), ast.UAdd: ("+", operator.pos)}
_COMPARE = {
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
}
_SYMBOLS = {sym: fn for table in (_BINARY, _COMPARE) for sym, fn in table.values()}
_NEGATE = {sym: fn for sym, fn in _UNARY.values()}

#: What a refused node is called in the message.
_KINDS = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.Slice: "slice",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment expression (:=)",
    ast.IfExp: "conditional expression",
    ast.BoolOp: "'and'/'or'",
    ast.JoinedStr: "string",
    ast.FormattedValue: "string",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.Starred: "starred argument",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text and its tree of tuples (see parse)."""

    text: str
    tree: tuple

    def evaluate(self, values: dict) -> "torch.Tensor":  # noqa: F821 (torch is imported on use)
        """The expression's value given a tensor for every name it uses; InputError when a
        tensor operation fails (shapes that do not broadcast, say)."""
        import torch

        def walk(node):
            kind = node[0]
            if kind == "number":
                return torch.tensor(node[1], dtype=torch.float64)
            if kind == "name":
                return torch.as_tensor(values[node[1]])
            if kind == "unary":
                return _NEGATE[node[1]](walk(node[2]))
            if kind == "binary":
                return _SYMBOLS[node[1]](walk(node[2]), walk(node[3]))
            if kind == "compare":
                operands = [walk(n) for n in node[2]]
                held = [_SYMBOLS[sym](a, b) for sym, a, b in zip(node[1], operands, operands[1:])]
                out = held[0]
                for h in held[1:]:
                    out = torch.logical_and(out, h)
                return out.to(torch.float64)
            value = getattr(torch, node[1])(*[walk(n) for n in node[2]])  # node[1] is a key of FUNCTIONS
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{node[1]}() gave {type(value).__name__}, not a tensor")
            return value

        try:
            return walk(self.tree)
        except Exception as exc:  # torch's errors on a checked tree: shapes that do not broadcast, ...
            raise InputError(
                f"objective expression {self.text!r} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            ) from None


def parse(text, names) -> Expression:
    """Check an expression over the given names (see the module docstring); InputError
    naming the first part that is not allowed."""
    if not isinstance(text, str):
        raise InputError(f"objective expression must be a string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise InputError(f"objective expression is {len(text)} characters long; at most {MAX_LENGTH}")
    if not text.strip():
        raise InputError("objective expression is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # ValueError: a NUL character
        detail = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise InputError(f"objective expression {_shown(text)} is not a valid expression ({detail})") from None
    return Expression(text, _Checker(text.strip(), tuple(names)).check(tree.body, 1))


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class _Checker:
    """Turns an ast tree into the tuple tree, refusing anything outside the whitelist."""

    def __init__(self, text: str, names: tuple[str, ...]):
        self.text, self.names = text, names

    def refuse(self, node, what: str):
        part = ast.get_source_segment(self.text, node) or ast.dump(node)[:60]
        raise InputError(
            f"objective expression: {what} {_shown(part)} is not allowed; use numbers, "
            f"{', '.join(self.names)}, + - * / **, comparisons and calls of {', '.join(FUNCTIONS)}"
        )

    def check(self, node, depth: int) -> tuple:
        if depth > MAX_DEPTH:
            raise InputError(f"objective expression nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.refuse(node, "string" if isinstance(value, (str, bytes)) else "constant")
            if not math.isfinite(float(value)):
                self.refuse(node, "non-finite number")
            return ("number", float(value))
        if isinstance(node, ast.Name):
            return ("name", self.name(node))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return ("unary", _UNARY[type(node.op)][0], self.check(node.operand, depth + 1))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return (
                "binary",
                _BINARY[type(node.op)][0],
                self.check(node.left, depth + 1),
                self.check(node.right, depth + 1),
            )
        if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
            return (
                "compare",
                tuple(_COMPARE[type(op)][0] for op in node.ops),
                tuple(self.check(n, depth + 1) for n in [node.left, *node.comparators]),
            )
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, (ast.UnaryOp, ast.BinOp)):
            self.refuse(node, f"operator {type(node.op).__name__} in")
        if isinstance(node, ast.Compare):
            self.refuse(node, f"comparison {next(type(o).__name__ for o in node.ops if type(o) not in _COMPARE)} in")
        self.refuse(node, _KINDS.get(type(node), type(node).__name__))

    def name(self, node: ast.Name) -> str:
        if node.id.startswith("__"):
            self.refuse(node, "double-underscore name")
        if node.id in FUNCTIONS:
            self.refuse(node, "function without a call")
        if node.id not in self.names:
            raise InputError(
                f"objective expression: unknown name {_shown(node.id)}; known: "
                f"{', '.join(self.names)} and the functions {', '.join(FUNCTIONS)}"
            )
        return node.id

    def call(self, node: ast.Call, depth: int) -> tuple:
        func = node.func
        if not (isinstance(func, ast.Name) and func.id in FUNCTIONS):
            if isinstance(func, ast.Name):
                self.name(func)  # refuses a double-underscore or unknown name
            else:
                self.check(func, depth + 1)  # refuses an attribute, a lambda, ...
            self.refuse(func, "call of")  # a quantity or a number is no function
        if node.keywords:
            self.refuse(node.keywords[0], "keyword argument")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.refuse(arg, "starred argument")
        name = func.id
        least, most = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            takes = str(least) if least == most else f"{least} to {most}"
            raise InputError(
                f"objective expression: {name}() takes {takes} argument{'s' * (most > 1)}, "
                f"got {len(node.args)} in {_shown(ast.get_source_segment(self.text, node) or name)}"
            )
        return ("call", name, tuple(self.check(a, depth + 1) for a in node.args))
