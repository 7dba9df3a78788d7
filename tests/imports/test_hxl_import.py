"""Files with a row of HXL hashtags under the header (as the export with hxl=true writes
them): the hashtags name the columns, and the export imports back unchanged."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth
from tests.imports.test_imports import listed, upload

API = "/api/v1"


def add(client: TestClient, key: str, **fields: Any) -> None:
    answer = client.post(f"{API}/activities", json=activity_body(**fields), headers=auth(key))
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_hxl_export_imports_back_unchanged(
    client: TestClient, make_key: KeyMaker, kind: str
) -> None:
    key = make_key("UNLIREC", "provider")
    add(
        client,
        key,
        title="Taller; «regional»",
        countries=["TT", "JM"],
        regions=["029"],
        themes=["export_control", "outreach"],
        partners=["OAS"],
        external_ref="UNL-1",
        start_time="09:00",
        end_time="12:00",
        timezone="America/Port_of_Spain",
        venue={"city": "Port of Spain", "country": "TT", "modality": "hybrid"},
        visibility="restricted",
        description="=not a formula",
    )
    add(client, key, title="#hashtag title, not a tag row", countries=["MX"])
    exported = client.get(
        f"{API}/exports/activities.{kind}", params={"hxl": "true"}, headers=auth(key)
    ).content
    report = upload(client, key, exported, name=f"activities.{kind}", dry_run="true").json()
    assert report["source"] == f"{kind}+hxl"
    assert report["errors"] == [], report
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 2), report
    assert report["unused_columns"] == []


def test_hashtags_name_columns_whatever_their_headers(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    content = (
        "Qué,Quién,Cuándo empieza,Hasta,Dónde,Temas,Otra cosa\n"
        "#activity+name,#ORG +impl,#date+start,#date +end,#country+code,#sector+code,#x_note\n"
        "Seminario,UNLIREC,2025-05-01,2025-05-02,TT,reporting,ignored\n"
    )
    answer = upload(client, key, content.encode(), name="hdx.csv")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["source"] == "csv+hxl"
    assert report["created"] == 1
    assert report["mapping"]["provider"] == "Quién"
    assert report["mapping"]["end_date"] == "Hasta"
    assert report["unused_columns"] == ["Otra cosa"]
    [activity] = listed(client, key)
    assert (activity["title"], activity["start_date"], activity["end_date"]) == (
        "Seminario",
        "2025-05-01",
        "2025-05-02",
    )
    assert (activity["countries"], activity["themes"]) == (["TT"], ["reporting"])
