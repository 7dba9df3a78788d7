"""The official IATI 2.03 schemas and example, kept beside the repository in
../shared/external/iati-schemas-2.03 (ASSISTCAL_IATI_SCHEMAS names another folder, e.g. for
a git worktree checked out elsewhere); the tests that need them skip, saying why, without."""

import os
from pathlib import Path

import pytest
from lxml import etree

SCHEMAS = Path(
    os.environ.get("ASSISTCAL_IATI_SCHEMAS")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "external" / "iati-schemas-2.03"
)


def schema_file(name: str) -> Path:
    """A file of the schemas' folder; the test skips when it is absent."""
    path = SCHEMAS / name
    if not path.exists():
        pytest.skip(f"the IATI 2.03 schemas are not in {SCHEMAS.resolve()}: cannot validate")
    return path


def activities_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schema_file("iati-activities-schema.xsd"))))
