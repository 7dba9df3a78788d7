"""The wheel ships every package of the service, and the migrations inside it; the lock files
cover pyproject.toml's dependencies; the Docker image installs from them (no Docker engine runs
the tests, so the Dockerfile is read)."""

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = PYPROJECT["project"]["dependencies"]
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
BUILD = PYPROJECT["build-system"]["requires"]
# What each lock file must cover (.ci/lock compiles them; .ci/run checks they are in step).
LOCKS = {
    "requirements.lock": RUNTIME,
    "requirements-test.lock": RUNTIME + EXTRAS["test"],
    "requirements-build.lock": BUILD,
}


def test_every_package_is_listed_for_the_wheel() -> None:
    config = PYPROJECT["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "app").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"]["app.migrations"] == "migrations"
    assert (ROOT / "migrations" / "__init__.py").exists()
    assert (ROOT / "migrations" / "versions" / "__init__.py").exists()
    assert {"app.migrations", "app.migrations.versions"} <= listed


def test_every_dependency_has_a_lower_bound() -> None:
    declared = RUNTIME + BUILD + [spec for extra in EXTRAS.values() for spec in extra]
    unbounded = [
        spec
        for spec in declared
        if not any(s.operator in {">=", ">", "==", "~="} for s in Requirement(spec).specifier)
    ]
    assert not unbounded, f"give these a lower bound in pyproject.toml: {unbounded}"


def locked(lock: str) -> dict[str, tuple[Version, list[str]]]:
    """The releases a lock file pins: name -> (version, hashes)."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    for entry in re.split(r"\n(?=\S)", (ROOT / lock).read_text()):
        if entry.startswith("#"):
            continue
        name, version = entry.split(" ", 1)[0].split("==")
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", entry)
        pins[canonicalize_name(name)] = (Version(version), hashes)
    return pins


@pytest.mark.parametrize("lock", LOCKS)
def test_the_lock_pins_every_dependency_within_its_bounds_with_hashes(lock: str) -> None:
    pins = locked(lock)
    for spec in LOCKS[lock]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} lacks {name}: run `bash .ci/lock`"
        assert pins[name][0] in requirement.specifier, f"{lock}: {name} {pins[name][0]} vs {spec}"
    assert all(hashes for _, hashes in pins.values()), f"{lock}: a release without hashes"


def test_the_tests_run_on_the_versions_the_image_ships() -> None:
    service = {name: version for name, (version, _) in locked("requirements.lock").items()}
    test = {name: version for name, (version, _) in locked("requirements-test.lock").items()}
    assert {name: test.get(name) for name in service} == service


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), by stage."""
    lines = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    stages: list[list[tuple[str, str]]] = []
    for instruction in re.split(r"(?<!\\)\n", "\n".join(lines)):
        instruction = re.sub(r"\\\n\s*", " ", instruction).strip()
        if not instruction:
            continue
        keyword, _, arguments = instruction.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), arguments.strip()))
    return stages


def test_the_base_image_is_pinned_by_version_and_digest() -> None:
    images = {stage[0][1].split()[0] for stage in dockerfile_stages()}
    assert len(images) == 1, f"one base image for every stage: {images}"
    (image,) = images
    pinned = re.fullmatch(r"python:(3\.\d+\.\d+)-slim-[a-z]+@sha256:[0-9a-f]{64}", image)
    assert pinned, f"pin the full version and the digest: {image}"
    assert Version(pinned[1]) in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_the_dependencies_come_from_the_lock_in_a_layer_before_the_app() -> None:
    builder, _ = dockerfile_stages()
    copies = [arguments.split() for keyword, arguments in builder if keyword == "COPY"]
    assert copies[0] == ["requirements.lock", "requirements-build.lock", "./"]
    runs = [arguments for keyword, arguments in builder if keyword == "RUN"]
    dependencies, service = runs
    for lock in ("requirements.lock", "requirements-build.lock"):
        assert re.search(rf"--require-hashes --no-deps [^&]*-r {lock}", dependencies), lock
    assert "--no-build-isolation" in dependencies  # sdists built with the locked setuptools
    assert builder.index(("RUN", dependencies)) < builder.index(("COPY", "app ./app"))
    assert "--no-deps --no-index" in service
    assert "pip --python /opt/assistcal/bin/python check" in service


def test_the_image_runs_the_service_as_a_user_with_a_health_check() -> None:
    _, runtime = dockerfile_stages()
    instructions = dict(runtime)
    assert instructions["USER"] not in {"root", "0"}
    assert "COPY --from=builder /opt/assistcal /opt/assistcal" in [
        f"COPY {arguments}" for keyword, arguments in runtime if keyword == "COPY"
    ]
    healthcheck = instructions["HEALTHCHECK"]
    assert re.search(r"--start-period=\d+s", healthcheck)
    # The slim image has no curl: the check is Python's, against readiness on the served port.
    assert " CMD python -c " in healthcheck
    port = instructions["EXPOSE"]
    assert f"http://127.0.0.1:{port}/readyz" in healthcheck
    assert instructions["CMD"] == f'["assistcal", "serve", "--host", "0.0.0.0", "--port", "{port}"]'
    assert "ASSISTCAL_DATABASE_URL=sqlite:////data/assistcal.db" in instructions["ENV"]


def in_build_context(path: str) -> bool:
    """Whether .dockerignore lets `path` into the build context (the last matching rule wins;
    a rule matches a path or any folder above it)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        pattern = rule.removeprefix("!")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            included = rule.startswith("!")
    return included


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_more() -> None:
    builder, _ = dockerfile_stages()
    sources = [
        source
        for keyword, arguments in builder
        if keyword == "COPY"
        for source in arguments.split()[:-1]
    ]
    assert "app" in sources
    assert "migrations" in sources
    for source in sources:
        assert in_build_context(source), f".dockerignore leaves out {source}"
    assert in_build_context("app/web/templates/base.html")
    for kept_out in (
        ".env",
        ".git/config",
        "assistcal.db",
        ".venv/bin/python",
        "tests/conftest.py",
    ):
        assert not in_build_context(kept_out), kept_out
    assert not in_build_context("app/__pycache__/main.cpython-311.pyc")
