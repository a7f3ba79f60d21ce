"""The slips students make, as source mutations of an exercise's answer (used by tools.check_exercises).

Each operator looks at one node of the answer's syntax tree, inside the ``### BEGIN SOLUTION`` /
``### END SOLUTION`` lines, and proposes a small textual edit of the cell: the operator's token
swapped, an operand kept and the rest dropped, a call unwrapped. The edit is spliced into the
cell's source, so everything else (comments, layout) stays as the author wrote it.

Operators (the name is what the report shows):

==============  ===================================================================
``sign``        unary minus dropped; ``-(...)`` added to a returned or assigned value; ``+`` <-> ``-``
``factor``      a constant factor or divisor dropped: ``0.5 * x`` -> ``x``, ``x / 2`` -> ``x``
``power``       ``x ** 2`` -> ``x`` (epsilon for epsilon squared), ``x ** 0.5`` -> ``x``
``temperature`` ``/ temperature``, ``* temperature``, ``* beta`` dropped
``reduction``   ``sum`` <-> ``mean``
``axis``        another ``dim`` / ``axis``: 0 -> 1, 1 -> 0, -1 -> 0, k -> k - 1
``off_by_one``  ``range(a)`` -> ``range(a - 1)`` and ``range(a + 1)``; a constant index or
                slice bound +-1; ``n - 1`` -> ``n``
``call``        a missing ``sqrt`` / ``exp`` / ``log`` (and ``log1p``, ``expm1``, ``rsqrt``)
``compare``     ``<`` <-> ``<=``, ``<`` <-> ``>`` (and the same for ``>``, ``>=``)
``log_mean``    ``logsumexp(a) - log n`` or ``log(mean(exp(a)))`` -> ``mean(a)``, and
                ``log_w.mean()`` -> ``logsumexp(log_w) - log n`` (a name holding logs)
==============  ===================================================================

Mutants that produce the same program (compared by their syntax trees) are kept once, in
source order; a mutant that does not parse is dropped.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TEMPERATURE_NAMES = re.compile(r"^(temperature|temp|t|beta|inverse_temperature|tau)$", re.IGNORECASE)
MISSING_CALLS = {"sqrt", "exp", "log", "log1p", "expm1", "rsqrt"}
REDUCTIONS = {"sum": "mean", "mean": "sum", "nansum": "nanmean", "nanmean": "nansum"}
AXIS_KEYWORDS = {"dim", "axis", "dims"}
AXIS_METHODS = {"sum", "mean", "logsumexp", "std", "var", "max", "min", "prod", "softmax", "log_softmax",
                "cumsum", "argmax", "argmin", "amax", "amin", "norm", "unsqueeze", "squeeze", "flip"}
COMPARE_SWAPS = {
    ast.Lt: ("<=", ">"), ast.LtE: ("<", ">="), ast.Gt: (">=", "<"), ast.GtE: (">", "<="),
}
COMPARE_TOKENS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
ATOMS = (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript, ast.List, ast.Tuple, ast.Dict)


@dataclass(frozen=True)
class Mutant:
    """One mutated answer: the operator, the 1-based line in the cell, that line as mutated, the new source."""

    operator: str
    lineno: int
    line: str
    source: str


class _Source:
    """A cell's source with byte offsets, since ``ast`` columns count UTF-8 bytes."""

    def __init__(self, text: str):
        self.text = text
        self.data = text.encode("utf-8")
        self.line_starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        return self.line_starts[lineno - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.data[start:end].decode("utf-8")

    def between(self, left: ast.AST, right: ast.AST) -> tuple[int, int]:
        return self.span(left)[1], self.span(right)[0]


def _wrapped(source: _Source, node: ast.AST) -> str:
    """The node's text, parenthesised unless it is an atom (so splicing never changes precedence)."""
    text = source.segment(node)
    return text if isinstance(node, ATOMS) else f"({text})"


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _is_temperature(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    return name is not None and (TEMPERATURE_NAMES.match(name) is not None or "temperature" in name.lower())


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _edits(node: ast.AST, source: _Source, parent: ast.AST | None):
    """Yield (operator, start, end, replacement) byte edits proposed for one node."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        # A negative index or axis is left to off_by_one and axis; -1 as a shift or a factor is a sign.
        in_index = isinstance(parent, (ast.Subscript, ast.Slice, ast.Tuple)) or (
            isinstance(parent, ast.keyword) and parent.arg in AXIS_KEYWORDS
        )
        if not (_is_number(node) and in_index):
            yield ("sign", *source.span(node), _wrapped(source, node.operand))
    if isinstance(node, (ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
        value = node.value
        arithmetic = isinstance(node, ast.Return) or isinstance(value, (ast.BinOp, ast.Call))
        if arithmetic and not isinstance(value, (ast.Tuple, ast.Constant)) and not (
            isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub)
        ):
            yield ("sign", *source.span(value), f"-({source.segment(value)})")
        elif isinstance(value, ast.Tuple):  # a returned pair: flip the first element
            first = value.elts[0]
            if not (isinstance(first, ast.UnaryOp) and isinstance(first.op, ast.USub)):
                yield ("sign", *source.span(first), f"-({source.segment(first)})")
    if isinstance(node, ast.BinOp):
        yield from _binop_edits(node, source)
    if isinstance(node, ast.Call):
        yield from _call_edits(node, source)
    if isinstance(node, ast.keyword) and node.arg in AXIS_KEYWORDS:
        yield from _axis_edits(node.value, source)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_SWAPS:
        start, end = source.between(node.left, node.comparators[0])
        gap = source.data[start:end].decode("utf-8")
        token = COMPARE_TOKENS[type(node.ops[0])]
        for other in COMPARE_SWAPS[type(node.ops[0])]:
            yield ("compare", start, end, gap.replace(token, other, 1))
    if isinstance(node, ast.Subscript):
        yield from _index_edits(node.slice, source)


def _binop_edits(node: ast.BinOp, source: _Source):
    left, right, op = node.left, node.right, node.op
    if isinstance(op, (ast.Add, ast.Sub)):
        start, end = source.between(left, right)
        gap = source.data[start:end].decode("utf-8")
        token, other = ("+", "-") if isinstance(op, ast.Add) else ("-", "+")
        yield ("sign", start, end, gap.replace(token, other, 1))
        if isinstance(op, ast.Sub) and isinstance(right, ast.Constant) and right.value == 1:
            yield ("off_by_one", *source.span(node), _wrapped(source, left))
    if isinstance(op, ast.Mult):
        for keep, drop in ((left, right), (right, left)):
            if _is_number(drop):
                yield ("factor", *source.span(node), _wrapped(source, keep))
            elif _is_temperature(drop):
                yield ("temperature", *source.span(node), _wrapped(source, keep))
    if isinstance(op, ast.Div):
        if _is_number(right):
            yield ("factor", *source.span(node), _wrapped(source, left))
        elif _is_temperature(right):
            yield ("temperature", *source.span(node), _wrapped(source, left))
    if isinstance(op, ast.Pow) and _is_number(right):
        yield ("power", *source.span(node), _wrapped(source, left))


def _call_edits(node: ast.Call, source: _Source):
    name = _call_name(node)
    func = node.func
    if name in MISSING_CALLS:
        if node.args and not (isinstance(func, ast.Attribute) and not _is_module(func.value)) and len(node.args) == 1:
            yield ("call", *source.span(node), _wrapped(source, node.args[0]))
        elif isinstance(func, ast.Attribute) and not node.args and not _is_module(func.value):
            yield ("call", *source.span(node), _wrapped(source, func.value))  # x.exp() -> x
        if name == "log" and node.args and isinstance(node.args[0], ast.Call):
            yield from _log_mean_exp(node, source)
    if name in REDUCTIONS and isinstance(func, ast.Attribute):
        start = source.span(func.value)[1]
        end = source.span(func)[1]
        gap = source.data[start:end].decode("utf-8")
        yield ("reduction", start, end, gap[: gap.rindex(name)] + REDUCTIONS[name])
        if name == "mean" and isinstance(func.value, ast.Name) and "log" in func.value.id.lower():
            yield from _mean_of_logs(node, source)
    if name in AXIS_METHODS and node.args:
        axis_position = 1 if isinstance(func, ast.Attribute) and _is_module(func.value) else 0
        if len(node.args) > axis_position:
            yield from _axis_edits(node.args[axis_position], source)
    if name == "range" and isinstance(func, ast.Name) and 1 <= len(node.args) <= 3:
        for arg in node.args[:2]:
            text = source.segment(arg)
            yield ("off_by_one", *source.span(arg), f"({text}) + 1")
            yield ("off_by_one", *source.span(arg), f"({text}) - 1")


def _is_module(node: ast.AST) -> bool:
    """True for ``torch``, ``math``, ``np`` and dotted module paths such as ``torch.special``."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in {"torch", "math", "np", "numpy", "F", "special", "scipy"}


def _log_mean_exp(node: ast.Call, source: _Source):
    """log(mean(exp(a))) -> mean(a), in function or method form."""
    inner = node.args[0]
    if _call_name(inner) != "mean" or not isinstance(inner.func, ast.Attribute):
        return
    exp_call = inner.func.value if not _is_module(inner.func.value) else (inner.args[0] if inner.args else None)
    if not isinstance(exp_call, ast.Call) or _call_name(exp_call) != "exp":
        return
    argument = exp_call.args[0] if exp_call.args else exp_call.func.value
    rest = [source.segment(a) for a in inner.args[1:]] if _is_module(inner.func.value) else [source.segment(a) for a in inner.args]
    rest += [f"{k.arg}={source.segment(k.value)}" for k in inner.keywords]
    yield ("log_mean", *source.span(node), f"({_wrapped(source, argument)}).mean({', '.join(rest)})")


def _mean_of_logs(node: ast.Call, source: _Source):
    """log_w.mean(dim=d) -> torch.logsumexp(log_w, dim=d) - log n."""
    value = source.segment(node.func.value)
    dims = [source.segment(a) for a in node.args] + [source.segment(k.value) for k in node.keywords if k.arg in AXIS_KEYWORDS]
    dim = dims[0] if dims else None
    if dim is None:
        text = f"(torch.logsumexp(({value}).reshape(-1), dim=0) - math.log(({value}).numel()))"
    else:
        text = f"(torch.logsumexp({value}, dim={dim}) - math.log(({value}).shape[{dim}]))"
    yield ("log_mean", *source.span(node), text)


def _axis_edits(value: ast.AST, source: _Source):
    if isinstance(value, ast.Constant) and isinstance(value.value, int) and not isinstance(value.value, bool):
        k = value.value
        other = {0: 1, 1: 0}.get(k, k - 1)
        yield ("axis", *source.span(value), str(other))
    elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
        yield ("axis", *source.span(value), "0")


def _index_edits(index: ast.AST, source: _Source):
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    for part in parts:
        bounds = [part.lower, part.upper] if isinstance(part, ast.Slice) else [part]
        for bound in bounds:
            if bound is not None and _is_number(bound) and isinstance(ast.literal_eval(bound), int):
                k = ast.literal_eval(bound)
                for other in (k + 1, k - 1):
                    yield ("off_by_one", *source.span(bound), str(other))


def _log_sum_exp_minus_log(node: ast.BinOp, source: _Source):
    """logsumexp(a, dim) - log(n) -> a.mean(dim)."""
    left, prefix = node.left, ""
    if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Add):  # base + logsumexp(a) - log n
        left, prefix = left.right, f"{source.segment(left.left)} + "
    if isinstance(node.op, ast.Sub) and isinstance(left, ast.Call) and _call_name(left) == "logsumexp" and left.args:
        argument = left.args[0]
        dims = [source.segment(a) for a in left.args[1:]] + [f"dim={source.segment(k.value)}" for k in left.keywords]
        yield ("log_mean", *source.span(node), f"{prefix}({_wrapped(source, argument)}).mean({', '.join(dims)})")


def mutants(cell: str) -> list[Mutant]:
    """Every distinct mutant of the code between the solution markers of ``cell``, in source order."""
    lines = cell.splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN) + 1
        end = next(i for i, line in enumerate(lines) if line.strip() == END) + 1
    except StopIteration:
        raise ValueError("cell has no ### BEGIN SOLUTION / ### END SOLUTION lines") from None
    source = _Source(cell)
    tree = ast.parse(cell)
    seen = {ast.dump(tree)}
    found: list[Mutant] = []
    nodes = []
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            if hasattr(child, "lineno") and begin < child.lineno and child.end_lineno < end:
                nodes.append((child, parent))
    nodes.sort(key=lambda pair: (pair[0].lineno, pair[0].col_offset))
    for node, parent in nodes:
        edits = list(_edits(node, source, parent))
        if isinstance(node, ast.BinOp):
            edits += list(_log_sum_exp_minus_log(node, source))
        for operator, start, stop, replacement in edits:
            data = source.data[:start] + replacement.encode("utf-8") + source.data[stop:]
            text = data.decode("utf-8")
            try:
                key = ast.dump(ast.parse(text))
            except SyntaxError:
                continue
            if key in seen:
                continue
            seen.add(key)
            # The line shown is the first one the edit changes (an edit may start at the end of the line above).
            first = start + next((i for i, (a, b) in enumerate(zip(source.data[start:], data[start:])) if a != b), 0)
            lineno = source.data[:first].count(b"\n") + 1
            found.append(Mutant(operator, lineno, text.splitlines()[lineno - 1].strip(), text))
    return found


def select(found: list[Mutant], cap: int) -> list[Mutant]:
    """At most ``cap`` mutants, taken round-robin over the operators (each in source order), then re-sorted.

    Deterministic: the same cell and cap always give the same mutants.
    """
    if len(found) <= cap:
        return list(found)
    by_operator: dict[str, list[Mutant]] = {}
    for mutant in found:
        by_operator.setdefault(mutant.operator, []).append(mutant)
    chosen: list[Mutant] = []
    queues = list(by_operator.values())
    while len(chosen) < cap:
        for queue in queues:
            if queue and len(chosen) < cap:
                chosen.append(queue.pop(0))
    order = {id(m): i for i, m in enumerate(found)}
    return sorted(chosen, key=lambda m: order[id(m)])
