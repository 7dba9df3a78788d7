"""IATI activity files in: the standard's own example, the service's export read back
unchanged, broken and hostile XML refused with a clear 422."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.imports import readers
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth, submit
from tests.imports.test_imports import listed, upload
from tests.support.iati import schema_file

API = "/api/v1"


def test_the_standards_example_imports_with_a_report(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "coordinator")
    example = schema_file("activity-standard-example-2.03.xml").read_bytes()
    # Its sectors are DAC codes and a vocabulary of its own, no 1540 theme: the import says
    # so, and takes the theme from `defaults`.
    without = upload(client, key, example, name="example.xml", dry_run="true").json()
    [error] = without["errors"]
    assert error["column"] == "sector/@code"
    report_notes = " ".join(note["message"] for note in without["notes"])
    assert "no 1540 theme among its sectors" in report_notes

    answer = upload(client, key, example, name="example.xml", defaults='{"themes": "coordination"}')
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["source"] == "iati"
    assert (report["created"], report["updated"], report["errors"]) == (1, 0, [])
    assert report["mapping"]["countries"] == "recipient-country/@code"
    assert report["mapping"]["title"] == "title/narrative"
    assert report["mapping"]["themes"] == "sector/@code"
    notes = {note["message"] for note in report["notes"]}
    assert all(note["activity"] == "AA-AAA-123456789-ABC123" for note in report["notes"])
    text = " | ".join(notes)
    for said in (
        "reporting-org AA-AAA-123456789 is no organization of this service",
        "recipient-region 489 (vocabulary 1), A1 (vocabulary 99): only UN M49 regions",
        "sector 111 (vocabulary 2), 112 (vocabulary 2), A1 (vocabulary 99): not a 1540 theme",
        "budget, planned-disbursement (2)",
        "location (2)",
        "transaction, document-link, related-activity",
        "description(s) other than the general one",
        "the texts in es, fr not imported",
        "its dates (2012-04-15 to 2015-12-31) span more than the 366 days",
    ):
        assert said in text, (said, text)
    [activity] = listed(client, key)
    assert activity["provider"] == "UNLIREC"  # the importer's: the reporting-org is unknown
    assert activity["external_ref"] == "AA-AAA-123456789-ABC123"
    assert activity["title"] == "Activity title"
    assert activity["language"] == "en"
    assert activity["description"].startswith("General activity description text.")
    assert activity["countries"] == ["AF", "AG"]
    assert activity["regions"] == []
    assert (activity["start_date"], activity["end_date"]) == ("2012-04-15", "2013-04-15")
    assert activity["status"] == "confirmed"  # 2, Implementation
    assert activity["partners"] == ["Name of Agency B", "Name of Agency C"]
    assert activity["contact_email"] == "transparency@example.org"
    assert activity["themes"] == ["coordination"]

    again = upload(
        client, key, example, name="example.xml", defaults='{"themes": "coordination"}'
    ).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1), again


def add(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    answer = client.post(f"{API}/activities", json=activity_body(**fields), headers=auth(key))
    assert answer.status_code == 201, answer.text
    activity: dict[str, Any] = answer.json()["activity"]
    return activity


@pytest.mark.parametrize("iati_identifier", ["XM-DAC-41301", None])
def test_the_iati_export_imports_back_unchanged(
    client: TestClient, make_key: KeyMaker, iati_identifier: str | None
) -> None:
    key = make_key("UNLIREC", "provider")
    admin = make_key("ADMIN", "admin")
    if iati_identifier:
        client.patch(
            f"{API}/organizations/UNLIREC",
            json={"iati_identifier": iati_identifier},
            headers=auth(admin),
        )
    add(
        client,
        key,
        title="Taller; «regional» & <más>",
        description="Línea 1\nLínea 2",
        language="es",
        countries=["TT", "JM"],
        regions=["029"],
        themes=["export_control", "outreach"],
        partners=["OAS", "Stimson Center, Washington"],
        external_ref="UNL-1",
        status="postponed",
        contact_email="a@b.org",
        url="https://x.org/a?b=c&d=e",
    )
    add(client, key, title="Sin referencia", countries=["MX"], status="completed")
    add(client, key, title="Regional", countries=[], regions=["419"], external_ref="R 2/b")
    exported = client.get(f"{API}/exports/activities.iati.xml", headers=auth(key)).content
    report = upload(client, key, exported, name="activities.iati.xml", dry_run="true").json()
    assert report["errors"] == [], report
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3), report
    assert report["matched"] == []
    real = upload(client, key, exported, name="activities.iati.xml").json()
    assert (real["created"], real["updated"], real["unchanged"]) == (0, 0, 3), real


def test_a_file_of_another_provider_is_refused_to_a_provider_key(
    client: TestClient, make_key: KeyMaker
) -> None:
    owner = make_key("UNLIREC", "provider")
    submit(client, owner, title="Ours", external_ref="U1")
    exported = client.get(f"{API}/exports/activities.iati.xml").content
    stranger = make_key("OPCW", "provider")
    answer = upload(client, stranger, exported, name="a.xml")
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["column"] == "reporting-org/@ref"
    assert "imports only its own organization's activities" in error["message"]


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<iati-activities version="2.03"><iati-activity><iati-identifier>&lol9;</iati-identifier>
<title><narrative>&lol9;</narrative></title></iati-activity></iati-activities>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<iati-activities version="2.03"><iati-activity><title><narrative>&secret;</narrative></title>
</iati-activity></iati-activities>"""


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"<iati-activities version='2.03'><iati-activity>", "not well-formed XML (line 1)"),
        (b"<?xml version='1.0'?>\n<rss/>", "whose root is <rss>"),
        (b"<iati-activities version='1.05'><iati-activity/></iati-activities>", "version 1.05"),
        (b"<iati-activities version='2.03'/>", "no iati-activity"),
        (BOMB, "declares a DOCTYPE"),
        (EXTERNAL, "declares a DOCTYPE"),
    ],
)
def test_broken_or_hostile_xml_is_a_clear_422(
    client: TestClient, make_key: KeyMaker, content: bytes, says: str
) -> None:
    key = make_key("UNLIREC", "provider")
    answer = upload(client, key, content, name="activities.xml")
    assert answer.status_code == 422, answer.text
    assert says in answer.text
    assert answer.json()["error"]["details"][0]["field"] == "file"
    assert b"root:" not in answer.content


def test_the_bomb_is_refused_without_expanding_it() -> None:
    with pytest.raises(Exception, match="DOCTYPE") as raised:
        readers.read("bomb.xml", BOMB)
    assert getattr(raised.value, "status_code", None) == 422
