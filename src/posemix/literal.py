"""Python files that hold only data, read without executing them.

MMPose metainfo files and the configs stored in checkpoints are Python source, but such
files can come from strangers. Their syntax tree is evaluated with literals, ``dict(...)``
calls, unary signs and list/number arithmetic only; anything else is rejected.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

from posemix.errors import PosemixError

_MAX_LITERAL_ITEMS = 100_000
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}


class _LiteralEvaluator:
    """Evaluates the data subset of Python that data files are written in."""

    def __init__(self, path: str, error: type[PosemixError]):
        self.path = path
        self.error = error
        self.names: dict[str, Any] = {}

    def fail(self, node: ast.AST, message: str) -> PosemixError:
        return self.error(f"{self.path}, line {getattr(node, 'lineno', '?')}: {message}")

    def __call__(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [self(e) for e in node.elts]
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise self.fail(node, "'**' unpacking is not allowed in data files")
            return {self(k): self(v) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "dict" and not node.args:
            if any(kw.arg is None for kw in node.keywords):
                raise self.fail(node, "'**' unpacking is not allowed in data files")
            return {kw.arg: self(kw.value) for kw in node.keywords}
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self(node.operand)
            if not isinstance(value, (int, float)):
                raise self.fail(node, "a sign can only apply to a number")
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return self._binop(node)
        if isinstance(node, ast.Name) and node.id in self.names:
            return self.names[node.id]
        raise self.fail(node, f"only literal data is allowed in data files, found "
                              f"'{ast.unparse(node)[:80]}'; posemix never executes them")

    def _binop(self, node: ast.BinOp) -> Any:
        left, right = self(node.left), self(node.right)
        numbers = (int, float)
        ok = (isinstance(left, numbers) and isinstance(right, numbers)) or (
            isinstance(node.op, (ast.Add, ast.Mult))
            and isinstance(left, (list, tuple)) and isinstance(right, (list, tuple, int))
            and not isinstance(right, bool)
        )
        if isinstance(node.op, ast.Mult) and isinstance(left, int) and isinstance(right, list):
            left, right, ok = right, left, True
        if not ok:
            raise self.fail(node, f"unsupported arithmetic '{ast.unparse(node)[:80]}'")
        if isinstance(right, int) and isinstance(left, (list, tuple)) \
                and len(left) * right > _MAX_LITERAL_ITEMS:
            raise self.fail(node, "list repetition is too large")
        return _BINOPS[type(node.op)](left, right)




def literal_assignments(text: str, source: str,
                        error: type[PosemixError] = PosemixError) -> dict[str, Any]:
    """``name = <literal data>`` statements of ``text`` as a dict, never executed.

    Any other statement or expression raises ``error`` naming ``source`` and the line.
    """
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as exc:
        raise error(f"{source}, line {exc.lineno}, column {exc.offset}: "
                    f"syntax error: {exc.msg}") from None
    evaluator = _LiteralEvaluator(source, error)
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise evaluator.fail(stmt, "only assignments of literal data to names are "
                                 f"allowed, found '{ast.unparse(stmt)[:80]}'")
        evaluator.names[stmt.targets[0].id] = evaluator(stmt.value)
    return evaluator.names
