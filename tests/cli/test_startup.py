"""`assistcal` starts without importing what its commands do not use: help for every command
needs none of the service's heavy modules, and a command loads only its own (the timing is
benchmarks/startup.py's; these tests look at which modules a fresh process imported)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from app.cli import app

ROOT = Path(__file__).resolve().parents[2]
# What the service's work needs and help does not (sqlmodel alone takes 0.4 s to import).
# Not pydantic: typer itself checks options' values with it.
HEAVY = {
    "alembic",
    "fastapi",
    "hdx",
    "icalendar",
    "openpyxl",
    "pycountry",
    "sqlalchemy",
    "sqlmodel",
    "starlette",
    "uvicorn",
}
# Help texts name the roles and organization kinds; nothing else of the service is needed.
HELP_MODULES = {"app", "app.core", "app.core.vocab"}

IMPORTED_AFTER = """
import contextlib, io, json, sys
from app.cli import app
for args in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        app(args, prog_name="assistcal")
print(json.dumps(sorted(sys.modules)))
"""


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and group of the CLI, as the arguments that name it."""
    paths = [list(prefix)]
    for command in group.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        paths.append([*prefix, name])
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        assert sub.name is not None
        paths += _commands(sub.typer_instance, (*prefix, sub.name))
    return paths


def _imported_after(runs: list[list[str]], tmp_path: Path) -> set[str]:
    """The modules a new Python process has imported after running the CLI with each of
    `runs`' arguments, on a fresh SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTCAL_")}
    env |= {"PYTHONPATH": str(ROOT), "ASSISTCAL_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_AFTER, json.dumps(runs)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


def test_help_imports_none_of_the_services_modules(tmp_path: Path) -> None:
    commands = _commands(app)
    assert ["import"] in commands
    assert ["report", "coverage"] in commands
    assert len(commands) >= 20  # every command and group
    modules = _imported_after([[*command, "--help"] for command in commands], tmp_path)
    assert "typer" in modules  # the help was built
    assert _heavy(modules) == []
    ours = {name for name in modules if name == "app" or name.startswith("app.")}
    assert {name for name in ours if not name.startswith("app.cli")} <= HELP_MODULES


@pytest.mark.parametrize("command", [["db", "current"], ["orgs", "list"]])
def test_a_command_does_not_load_what_other_commands_use(
    command: list[str], tmp_path: Path
) -> None:
    modules = _imported_after([command], tmp_path)
    assert "app.db" in modules  # the command ran
    unused = {"fastapi", "starlette", "uvicorn", "openpyxl", "hdx", "icalendar", "app.imports"}
    assert unused.isdisjoint(modules)
