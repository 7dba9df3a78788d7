"""The IATI export: a file the official schema (IATI Standard 2.03) accepts, each activity's
fields where docs/api.md says, with the list filters and who may see what."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.conftest import KeyMaker
from tests.helpers import auth, submit
from tests.support.iati import activities_schema

API = "/api/v1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return activities_schema()


def exported(
    client: TestClient, schema: etree.XMLSchema, key: str | None = None, **params: Any
) -> Any:
    """GET the IATI export, checked against the official schema: its root element."""
    headers = auth(key) if key else {}
    response = client.get(f"{API}/exports/activities.iati.xml", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = etree.fromstring(response.content)
    assert schema.validate(root), schema.error_log
    return root


def by_identifier(root: Any) -> dict[str, Any]:
    return {a.findtext("iati-identifier"): a for a in root.findall("iati-activity")}


def set_iati_identifier(client: TestClient, make_key: KeyMaker, acronym: str, value: Any) -> Any:
    admin = make_key("ADMIN", "admin")
    return client.patch(
        f"{API}/organizations/{acronym}", json={"iati_identifier": value}, headers=auth(admin)
    )


def test_each_field_where_the_standard_wants_it(
    client: TestClient, make_key: KeyMaker, schema: etree.XMLSchema
) -> None:
    key = make_key("UNLIREC", "provider")
    assert set_iati_identifier(client, make_key, "UNLIREC", "XM-DAC-41301").status_code == 200
    submit(
        client,
        key,
        title="Taller sobre control de exportaciones",
        description="Dos días",
        language="es",
        external_ref="UNL-7",
        countries=["TT", "JM"],
        regions=["029"],
        themes=["export_control", "outreach", "legislation"],
        partners=["OAS", "Stimson Center"],
        status="confirmed",
        start_date="2025-03-10",
        end_date="2025-03-12",
        contact_email="desk@unlirec.org",
    )
    root = exported(client, schema)
    assert root.get("version") == "2.03"
    assert root.get("generated-datetime")
    activity = by_identifier(root)["XM-DAC-41301-UNL-7"]
    assert activity.get(XML_LANG) == "es"
    assert activity.get("last-updated-datetime")
    reporting = activity.find("reporting-org")
    assert (reporting.get("ref"), reporting.get("type")) == ("XM-DAC-41301", "90")
    title = activity.find("title/narrative")
    assert (title.text, title.get(XML_LANG)) == ("Taller sobre control de exportaciones", "es")
    description = activity.find("description/narrative")
    assert (description.text, description.get(XML_LANG)) == ("Dos días", "es")
    orgs = [
        (o.get("ref"), o.get("role"), o.findtext("narrative"))
        for o in activity.findall("participating-org")
    ]
    assert orgs == [
        ("XM-DAC-41301", "4", "UNLIREC (test)"),
        (None, "4", "OAS"),
        (None, "4", "Stimson Center"),
    ]
    assert activity.find("activity-status").get("code") == "2"
    dates = {d.get("type"): d.get("iso-date") for d in activity.findall("activity-date")}
    assert dates == {"1": "2025-03-10", "3": "2025-03-12"}
    assert activity.findtext("contact-info/email") == "desk@unlirec.org"
    places = [
        (p.tag, p.get("code"), p.get("vocabulary"), p.get("percentage"))
        for p in activity.findall("recipient-country") + activity.findall("recipient-region")
    ]
    assert places == [
        ("recipient-country", "JM", None, "33.34"),
        ("recipient-country", "TT", None, "33.33"),
        ("recipient-region", "029", "2", "33.33"),
    ]
    sectors = activity.findall("sector")
    assert [(s.get("vocabulary"), s.get("code")) for s in sectors] == [
        ("99", "export_control"),
        ("99", "outreach"),
        ("99", "legislation"),
    ]
    assert sum(float(s.get("percentage")) for s in sectors) == pytest.approx(100)
    assert sectors[0].find("narrative").text == "Export control"
    assert sectors[0].find("narrative").get(XML_LANG) == "en"
    uri = sectors[0].get("vocabulary-uri")
    assert uri.endswith("/api/v1/exports/iati-themes")
    themes = client.get(uri.split("testserver", 1)[1]).json()
    assert {"code": "export_control", "name": "Export control"} in themes["codes"]


def test_statuses_and_a_provider_without_an_iati_identifier(
    client: TestClient, make_key: KeyMaker, schema: etree.XMLSchema
) -> None:
    key = make_key("OPCW", "provider")
    made = {
        status: submit(client, key, title=f"Course {status}", status=status)
        for status in ("planned", "confirmed", "postponed", "cancelled", "completed")
    }
    root = exported(client, schema)
    found = by_identifier(root)
    codes = {}
    for status, activity in made.items():
        element = found[f"ZZ-ASSISTCAL-OPCW-{activity['id']}"]
        assert element.find("reporting-org").get("ref") == "ZZ-ASSISTCAL-OPCW"
        # an activity without a description has an empty one: the schema requires it
        assert element.find("description/narrative").text is None
        codes[status] = element.find("activity-status").get("code")
    assert codes == {
        "planned": "1",
        "confirmed": "2",
        "postponed": "6",
        "cancelled": "5",
        "completed": "3",
    }


def test_filters_and_who_sees_what(
    client: TestClient, make_key: KeyMaker, schema: etree.XMLSchema
) -> None:
    key = make_key("UNLIREC", "provider")
    submit(client, key, title="Open TT", countries=["TT"], external_ref="A")
    submit(client, key, title="Open MX", countries=["MX"], themes=["outreach"], external_ref="B")
    submit(client, key, title="Closed", countries=["TT"], visibility="restricted", external_ref="C")

    def titles(root: Any) -> list[str]:
        return sorted(a.findtext("title/narrative") for a in root.findall("iati-activity"))

    assert titles(exported(client, schema)) == ["Open MX", "Open TT"]
    assert titles(exported(client, schema, key)) == ["Closed", "Open MX", "Open TT"]
    assert titles(exported(client, schema, country="TT")) == ["Open TT"]
    assert titles(exported(client, schema, key, theme="outreach")) == ["Open MX"]
    bad = client.get(f"{API}/exports/activities.iati.xml", params={"country": "XX"})
    assert bad.status_code == 422
    assert "country" in bad.text
    # The schema wants one activity at least: no file rather than an invalid one.
    none = client.get(f"{API}/exports/activities.iati.xml", params={"country": "BR"})
    assert none.status_code == 404
    assert "no activity matches these filters" in none.json()["error"]["message"]


def test_a_confirmed_duplicate_is_a_related_activity(
    client: TestClient, make_key: KeyMaker, schema: etree.XMLSchema
) -> None:
    provider = make_key("UNLIREC", "provider")
    other = make_key("OAS", "provider")
    coordinator = make_key("CICTE", "coordinator")
    first = submit(client, provider, title="Export control workshop Trinidad", external_ref="X1")
    second = submit(client, other, title="Export control workshop Trinidad", external_ref="O1")
    [finding] = [f for f in second["findings"] if f["kind"] == "duplicate"]
    decision = client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "confirm", "canonical_id": first["id"], "note": "the same"},
        headers=auth(coordinator),
    )
    assert decision.status_code == 200, decision.text
    found = by_identifier(exported(client, schema, coordinator))
    kept = found["ZZ-ASSISTCAL-UNLIREC-X1"]
    related = [(r.get("ref"), r.get("type")) for r in kept.findall("related-activity")]
    assert related == [("ZZ-ASSISTCAL-OAS-O1", "5")]
    if "ZZ-ASSISTCAL-OAS-O1" in found:  # when the list shows confirmed duplicates too
        duplicate = found["ZZ-ASSISTCAL-OAS-O1"]
        assert [r.get("ref") for r in duplicate.findall("related-activity")] == [
            "ZZ-ASSISTCAL-UNLIREC-X1"
        ]


def test_a_restricted_duplicate_is_not_named_to_anonymous_callers(
    client: TestClient, make_key: KeyMaker, schema: etree.XMLSchema
) -> None:
    provider = make_key("UNLIREC", "provider")
    other = make_key("OAS", "provider")
    coordinator = make_key("CICTE", "coordinator")
    first = submit(client, provider, title="Border control course Jamaica", countries=["JM"])
    second = submit(
        client,
        other,
        title="Border control course Jamaica",
        countries=["JM"],
        visibility="restricted",
        external_ref="SECRET-1",
    )
    [finding] = [f for f in second["findings"] if f["kind"] == "duplicate"]
    client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "confirm", "canonical_id": first["id"]},
        headers=auth(coordinator),
    )
    body = client.get(f"{API}/exports/activities.iati.xml").content
    assert b"SECRET-1" not in body
    assert b"restricted" not in body
    root = etree.fromstring(body)
    assert schema.validate(root), schema.error_log
    assert len(root.findall("iati-activity")) == 1


def test_an_iati_identifier_is_checked(client: TestClient, make_key: KeyMaker) -> None:
    make_key("UNLIREC", "provider")
    make_key("OPCW", "provider")
    for bad in ("41301", "XM DAC 41301", "xm-dac-41301", "XM-DAC-41/301", ""):
        answer = set_iati_identifier(client, make_key, "UNLIREC", bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert "iati_identifier" in answer.text
    assert (
        set_iati_identifier(client, make_key, "UNLIREC", "GB-GOV-1").json()["iati_identifier"]
        == "GB-GOV-1"
    )
    taken = set_iati_identifier(client, make_key, "OPCW", "GB-GOV-1")
    assert taken.status_code == 409
    assert "iati_identifier" in taken.text
    cleared = set_iati_identifier(client, make_key, "UNLIREC", None)
    assert cleared.status_code == 200
    assert cleared.json()["iati_identifier"] is None
