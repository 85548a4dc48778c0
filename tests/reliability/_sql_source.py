"""Reading the source for text formatted into DuckDB SQL that nothing checked.

The query engine (`vigil.compute`, `vigil.explorer`) composes DuckDB SQL with f-strings:
a plan is assembled from fragments rendered by actions and aggregators. Only three kinds
of thing may be interpolated into such SQL:

- the result of a quoting function of `vigil.compute.sql` (or `vigil.compute.plan`'s names
  for them), of ``sql_number``, ``int``, ``float``, of a column getter ``col`` (made by
  ``column_resolver``, which quotes), or of ``render_where`` (checked here, binds values);
- a fragment rendered by another checked function: a method or function called ``sql``,
  ``*_sql`` or ``render_where``, or a function of the same module all of whose f-strings
  pass this check;
- a local variable or parameter built only from the above (a parameter of a renderer is
  SQL by contract: its callers are checked where they build it).

`unchecked_interpolations` follows each interpolated name to its assignments in the
function (``=``, ``+=``, ``.append``) and reports what it cannot trace to one of these.
"""

from __future__ import annotations

import ast
import re

__all__ = ["unchecked_interpolations"]

_DUCKDB_WORDS = re.compile(
    r"\b(SELECT|FROM|WHERE|JOIN|GROUP\s+BY|ORDER\s+BY|LIMIT|CAST|COPY|SET|read_parquet)\b"
)
_SAFE_CALLS = {
    "col",
    "column_resolver",
    "file_list",
    "float",
    "int",
    "quote",
    "quote_identifier",
    "render_where",
    "sql_files",
    "sql_number",
    "sql_string",
    "string_literal",
}
_RENDERERS = re.compile(r"^(sql|.*_sql|render_where)$")
_ARITHMETIC = ast.Add | ast.Sub | ast.Mult | ast.Pow
_SCOPES = (ast.FunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)


def unchecked_interpolations(source: str) -> list[tuple[int, str]]:
    """``(line, expression)`` of every interpolation into SQL that is not traced as safe.

    An f-string counts as SQL when its text holds a DuckDB keyword or when it is inside
    a renderer (``sql``, ``*_sql``, ``render_where``). The message of an exception and
    the argument of a quoting function are not SQL.
    """
    tree = ast.parse(source)
    checker = _Checker(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr) or checker.is_not_sql(node):
            continue
        text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        scope = checker.enclosing(node, (ast.FunctionDef,))
        in_renderer = isinstance(scope, ast.FunctionDef) and _RENDERERS.match(scope.name)
        if in_renderer or _DUCKDB_WORDS.search(text):
            found += [(node.lineno, ast.unparse(bad)) for bad in checker.unsafe(node)]
    return found


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.parents = {
            child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
        }
        self.functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        self.constants = {
            target.id
            for n in tree.body
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
            for target in n.targets
            if isinstance(target, ast.Name)
        }
        self.verdicts: dict[str, bool] = {}

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...]) -> ast.AST | None:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, kinds):
                return node
        return None

    def is_not_sql(self, node: ast.JoinedStr) -> bool:
        """An exception's message, or the argument of a quoting function."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Call) and _name(parent.func) in _SAFE_CALLS:
            return True
        return self.enclosing(node, (ast.Raise,)) is not None

    def unsafe(self, expr: ast.AST, seen: frozenset[str] = frozenset()) -> list[ast.AST]:
        """The parts of *expr* that may carry unchecked text."""
        if isinstance(expr, ast.Constant):
            return []
        if isinstance(expr, ast.JoinedStr):
            return [
                bad
                for v in expr.values
                if isinstance(v, ast.FormattedValue)
                for bad in self.unsafe(v.value, seen)
            ]
        if isinstance(expr, ast.IfExp):
            return self.unsafe(expr.body, seen) + self.unsafe(expr.orelse, seen)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, _ARITHMETIC):
            return self.unsafe(expr.left, seen) + self.unsafe(expr.right, seen)
        if isinstance(expr, ast.List | ast.Tuple):
            return [bad for e in expr.elts for bad in self.unsafe(e, seen)]
        if isinstance(expr, ast.Starred):
            return self.unsafe(expr.value, seen)
        if isinstance(expr, ast.GeneratorExp | ast.ListComp):
            return self.unsafe(expr.elt, seen)
        if isinstance(expr, ast.Call):
            return self.unsafe_call(expr, seen)
        if isinstance(expr, ast.Name):
            return self.unsafe_name(expr, seen)
        return [expr]

    def unsafe_call(self, call: ast.Call, seen: frozenset[str]) -> list[ast.AST]:
        name = _name(call.func)
        arguments = [*call.args, *(k.value for k in call.keywords)]
        if name in _SAFE_CALLS:
            return []
        if (
            _RENDERERS.match(name)
            or name in ("min", "max")
            or (
                name == "join"
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Constant)
            )
        ):
            # What a renderer is given becomes SQL: it is checked here, at the call.
            return [bad for arg in arguments for bad in self.unsafe(arg, seen)]
        if isinstance(call.func, ast.Name) and name in self.functions:
            if not self.safe_function(name):
                return [call]
            return [bad for arg in arguments for bad in self.unsafe(arg, seen)]
        return [call]

    def safe_function(self, name: str) -> bool:
        if name not in self.verdicts:
            self.verdicts[name] = True  # a recursive call is judged by the rest
            self.verdicts[name] = not any(
                self.unsafe(node)
                for node in ast.walk(self.functions[name])
                if isinstance(node, ast.JoinedStr) and not self.is_not_sql(node)
            )
        return self.verdicts[name]

    def takes_sql(self, scope: ast.AST) -> bool:
        """Whether the parameters of *scope* are SQL fragments by contract.

        So are those of a renderer and of a private function of the module, whose
        arguments are checked at each call in SQL; a public function's are data.
        """
        if not isinstance(scope, ast.FunctionDef):
            return False
        return bool(_RENDERERS.match(scope.name)) or scope.name.startswith("_")

    def unsafe_name(self, name: ast.Name, seen: frozenset[str]) -> list[ast.AST]:
        if name.id in self.constants or name.id in seen:
            return []
        seen = seen | {name.id}
        comprehension = self.enclosing(name, _COMPREHENSIONS)
        if comprehension is not None and any(
            isinstance(t, ast.Name) and t.id == name.id
            for generator in comprehension.generators  # type: ignore[attr-defined]
            for t in ast.walk(generator.target)
        ):
            return [name]  # an item of a collection: data, unless quoted where it is used
        scope = self.enclosing(name, _SCOPES)
        if scope is None:
            return [name]
        arguments = scope.args  # type: ignore[attr-defined]
        parameters = {
            a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        }
        if name.id in parameters and self.takes_sql(scope):
            return []  # SQL by contract: checked at every call, where it is built
        found: list[ast.AST] = []
        assigned = False
        for node in ast.walk(scope):
            value: ast.AST | None = None
            if (
                isinstance(node, ast.Assign)
                and any(
                    isinstance(t, ast.Name) and t.id == name.id
                    for target in node.targets
                    for t in ast.walk(target)
                )
            ) or (
                isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr)
                and isinstance(node.target, ast.Name)
                and node.target.id == name.id
            ):
                value = node.value
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "extend", "insert")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == name.id
                and node.args
            ):
                found += self.unsafe(node.args[-1], seen)
                continue
            if value is not None:
                assigned = True
                found += self.unsafe(value, seen)
        return found if assigned else [name]


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return getattr(func, "attr", "")
