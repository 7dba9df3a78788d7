"""One clock: the service reads the time in UTC, through app.core.timeutil, never the
machine's local time (a server whose zone is not UTC would otherwise date a feed's window,
an import's default range or a report's year differently from the read cache's keys)."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
CLOCK = APP / "core" / "timeutil.py"


def _local_clock_calls(source: str) -> list[str]:
    """`date.today()`, `datetime.today()`, `datetime.utcnow()` (naive) and `datetime.now()`
    without a zone in `source`, as "line: call", whatever names they were imported under."""
    tree = ast.parse(source)
    classes: dict[str, str] = {}  # local name -> "date" or "datetime"
    modules: set[str] = set()  # local names of the datetime module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "datetime":
            for alias in node.names:
                if alias.name in ("date", "datetime"):
                    classes[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            modules |= {
                alias.asname or "datetime" for alias in node.names if alias.name == "datetime"
            }

    def kind(expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return classes.get(expr.id)
        if (
            isinstance(expr, ast.Attribute)
            and isinstance(expr.value, ast.Name)
            and expr.value.id in modules
            and expr.attr in ("date", "datetime")
        ):
            return expr.attr
        return None

    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, cls = node.func.attr, kind(node.func.value)
        zoneless = not node.args and not node.keywords
        if (
            (cls in ("date", "datetime") and method == "today")
            or (cls == "datetime" and method == "utcnow")
            or (cls == "datetime" and method == "now" and zoneless)
        ):
            found.append(f"{node.lineno}: {cls}.{method}()")
    return found


def test_the_finder_sees_each_form_of_the_local_clock() -> None:
    source = """
import datetime
import datetime as dt
from datetime import UTC, date, datetime as Moment

date.today()
Moment.today()
Moment.now()
Moment.utcnow()
datetime.date.today()
dt.datetime.now()
Moment.now(UTC)
dt.datetime.now(tz=UTC)
date.fromisoformat("2025-01-01")
"""
    assert [call.split(": ")[1] for call in _local_clock_calls(source)] == [
        "date.today()",
        "datetime.today()",
        "datetime.now()",
        "datetime.utcnow()",
        "date.today()",
        "datetime.now()",
    ]


def test_no_module_reads_the_local_clock() -> None:
    offenders = {}
    for path in sorted(APP.rglob("*.py")):
        name = path.relative_to(APP.parent).as_posix()
        if path == CLOCK:
            continue
        calls = _local_clock_calls(path.read_text("utf-8"))
        if calls:
            offenders[name] = calls
    assert offenders == {}, "use app.core.timeutil.today() / utcnow()"
