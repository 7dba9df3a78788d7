"""Exports: CSV and XLSX with the list filters, readable names, HXL, no formula injection."""

import csv
import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from app.exports.columns import COLUMNS
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth

API = "/api/v1"


def post(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    response = client.post(f"{API}/activities", json=activity_body(**fields), headers=auth(key))
    assert response.status_code == 201, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())  # a byte order mark, for Excel
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_has_every_field_and_readable_names(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    activity = post(
        client,
        key,
        title='Taller, con comas; y «comillas» "dobles"',
        description="Línea 1\nLínea 2",
        countries=["TT", "JM"],
        regions=["029"],
        themes=["export_control", "outreach"],
        partners=["OAS", "US-STATE"],
        external_ref="UNL-7",
        start_time="09:00",
        end_time="12:30",
        timezone="America/Port_of_Spain",
        venue={"city": "Port of Spain", "country": "TT", "modality": "hybrid"},
        contact_email="desk@unlirec.org",
        url="https://unlirec.org/a",
    )
    response = client.get(f"{API}/exports/activities.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="activities.csv"' in response.headers["content-disposition"]
    [row] = read_csv(response.content)
    assert list(row) == [column.name for column in COLUMNS]
    assert row["title"] == activity["title"]
    assert row["description"] == "Línea 1\nLínea 2"
    assert row["countries"] == "JM; TT"
    assert row["country_names"] == "Jamaica; Trinidad and Tobago"
    assert row["regions"] == "029"
    assert row["region_names"] == "Caribbean"
    assert row["themes"] == "export_control; outreach"
    assert row["theme_names"] == "Export control; Outreach"
    assert row["partners"] == "OAS; US-STATE"
    assert (row["start_date"], row["start_time"], row["timezone"]) == (
        "2025-03-10",
        "09:00",
        "America/Port_of_Spain",
    )
    assert (row["venue_city"], row["venue_country"], row["modality"]) == (
        "Port of Spain",
        "TT",
        "hybrid",
    )
    assert (row["provider"], row["external_ref"], row["id"]) == ("UNLIREC", "UNL-7", activity["id"])


def test_filters_and_visibility_follow_the_list_api(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    post(client, key, title="Open TT", countries=["TT"])
    post(client, key, title="Open MX", countries=["MX"], themes=["outreach"])
    post(client, key, title="Closed", countries=["TT"], visibility="restricted")
    anonymous = read_csv(client.get(f"{API}/exports/activities.csv").content)
    assert sorted(r["title"] for r in anonymous) == ["Open MX", "Open TT"]
    with_key = read_csv(client.get(f"{API}/exports/activities.csv", headers=auth(key)).content)
    assert sorted(r["title"] for r in with_key) == ["Closed", "Open MX", "Open TT"]
    filtered = client.get(f"{API}/exports/activities.csv", params={"country": "TT"})
    assert [r["title"] for r in read_csv(filtered.content)] == ["Open TT"]
    assert client.get(f"{API}/exports/activities.csv", params={"country": "XX"}).status_code == 422


def test_formulas_are_neutralised(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    post(client, key, title='=HYPERLINK("http://evil")', description="@SUM(A1)")
    post(
        client,
        key,
        title="+1 workshop",
        description="-2 days",
        start_date="2025-04-01",
        end_date="2025-04-01",
    )
    rows = read_csv(client.get(f"{API}/exports/activities.csv").content)
    for row in rows:
        for column in ("title", "description"):
            assert not row[column].startswith(("=", "+", "-", "@")), row[column]
    assert rows[0]["title"] == '\'=HYPERLINK("http://evil")'
    sheet = openpyxl.load_workbook(
        io.BytesIO(client.get(f"{API}/exports/activities.xlsx").content)
    ).active
    assert sheet is not None
    titles = [cell.value for cell in sheet["A"]][1:]
    assert titles == ['\'=HYPERLINK("http://evil")', "'+1 workshop"]
    assert all(cell.data_type == "s" for cell in sheet["A"])


def test_xlsx_and_the_hxl_row(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    post(client, key, title="Taller nacional", countries=["TT"])
    response = client.get(f"{API}/exports/activities.xlsx", params={"hxl": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook["activities"]
    header, tags, data = ([cell.value for cell in row] for row in sheet.iter_rows(max_row=3))
    assert header == [column.name for column in COLUMNS]
    by_name = dict(zip(header, tags, strict=True))
    for name, tag in (
        ("title", "#activity+name"),
        ("provider", "#org+impl"),
        ("countries", "#country+code"),
        ("start_date", "#date+start"),
        ("end_date", "#date+end"),
        ("theme_names", "#sector"),
    ):
        assert by_name[name] == tag
    values = dict(zip(header, data, strict=True))
    assert values["title"] == "Taller nacional"
    assert values["country_names"] == "Trinidad and Tobago"
    assert str(values["start_date"]).startswith("2025-03-10")
    csv_rows = client.get(f"{API}/exports/activities.csv", params={"hxl": "1"}).content
    lines = csv_rows.decode("utf-8-sig").splitlines()
    assert lines[1].startswith("#activity+name,#org+impl,")


def test_an_empty_export_has_its_header(client: TestClient) -> None:
    rows = client.get(f"{API}/exports/activities.csv").content.decode("utf-8-sig").splitlines()
    assert rows == [",".join(column.name for column in COLUMNS)]


def test_the_readable_names_in_the_readers_language(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    post(client, key, countries=["TT", "HT"], regions=["029"], themes=["export_control"])
    french = client.get(f"{API}/exports/activities.csv", params={"lang": "fr"})
    assert french.status_code == 200
    [row] = read_csv(french.content)
    assert row["country_names"] == "Haïti; Trinité-et-Tobago"
    assert row["region_names"] == "Caraïbes"
    assert row["theme_names"] == "Contrôles à l'exportation"
    assert (row["countries"], row["themes"]) == ("HT; TT", "export_control")  # codes stay
    assert row["title"] == read_csv(client.get(f"{API}/exports/activities.csv").content)[0]["title"]

    arabic = client.get(f"{API}/exports/activities.xlsx", params={"lang": "ar", "hxl": "true"})
    assert arabic.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(arabic.content))["activities"]
    header, _tags, values = ([cell.value for cell in r] for r in sheet.iter_rows(max_row=3))
    cells = dict(zip(header, values, strict=True))
    assert cells["country_names"] == "هايتي; ترينيداد وتوباغو"
    assert cells["theme_names"] == "مراقبة الصادرات"

    themes = client.get(f"{API}/exports/iati-themes", params={"lang": "zh"}).json()
    assert {"code": "export_control", "name": "出口管制"} in themes["codes"]
    for path in ("activities.csv", "activities.xlsx", "iati-themes"):
        refused = client.get(f"{API}/exports/{path}", params={"lang": "klingon"})
        assert refused.status_code == 422
        assert "lang" in refused.text
