"""Imports: Spanish spreadsheets, dry runs, all or nothing, a second import changing nothing."""

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth

API = "/api/v1"

SPANISH_CSV = (
    "\ufeffTítulo;Organización;Fecha de inicio;Fecha de fin;País beneficiario;Tema;Tipo;Idioma\n"
    "Taller nacional sobre control de exportaciones;UNLIREC;15/03/2024;17/03/2024;"
    "Trinidad y Tobago;export_control;taller;es\n"
    "Capacitación aduanera;UNLIREC;02/04/2024;03/04/2024;México;Border control;training;es\n"
)


def upload(
    client: TestClient,
    key: str,
    content: bytes,
    name: str = "calendar.csv",
    **params: Any,
) -> Any:
    form = {
        k: v
        for k, v in params.items()
        if k in ("provider", "mapping", "sheet", "defaults", "choices")
    }
    query = {k: v for k, v in params.items() if k not in form}
    return client.post(
        f"{API}/imports",
        params=query,
        data=form,
        files={"file": (name, content)},
        headers=auth(key),
    )


def listed(client: TestClient, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"{API}/activities", headers=auth(key)).json()["items"]
    return items


def test_a_spanish_semicolon_csv_dry_run_then_for_real(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "coordinator")
    dry = upload(client, key, SPANISH_CSV.encode(), dry_run="true")
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] is True
    assert (report["created"], report["updated"], report["unchanged"]) == (0 + 2, 0, 0)
    assert report["errors"] == []
    assert report["mapping"]["countries"] == "País beneficiario"
    assert report["mapping"]["start_date"] == "Fecha de inicio"
    assert listed(client, key) == []  # a dry run writes nothing

    real = upload(client, key, SPANISH_CSV.encode())
    assert real.status_code == 200, real.text
    assert real.json()["created"] == 2
    activities = {a["title"]: a for a in listed(client, key)}
    workshop = activities["Taller nacional sobre control de exportaciones"]
    assert workshop["countries"] == ["TT"]
    assert (workshop["start_date"], workshop["end_date"]) == ("2024-03-15", "2024-03-17")
    assert workshop["activity_type"] == "workshop"
    assert workshop["external_ref"].startswith("import-")
    assert activities["Capacitación aduanera"]["countries"] == ["MX"]
    assert activities["Capacitación aduanera"]["themes"] == ["border_control"]

    again = upload(client, key, SPANISH_CSV.encode())
    assert again.status_code == 200, again.text
    assert again.json()["created"] == 0
    assert again.json()["unchanged"] == 2
    assert len(listed(client, key)) == 2


def test_one_bad_row_writes_nothing(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    bad = SPANISH_CSV + "Visita;UNLIREC;31/02/2024;31/02/2024;Narnia;export_control;taller;es\n"
    answer = upload(client, key, bad.encode())
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert errors[0]["row"] == 4
    assert errors[0]["column"] in ("Fecha de inicio", "País beneficiario")
    assert answer.json()["created"] == 2  # what would have been: nothing was
    assert listed(client, key) == []
    skipped = upload(client, key, bad.encode(), skip_invalid="true")
    assert skipped.status_code == 200
    assert skipped.json()["created"] == 2
    assert len(skipped.json()["errors"]) == 1
    assert len(listed(client, key)) == 2


def test_an_edited_file_updates_just_the_changed_rows(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    rows = "title,start,end,countries,themes,external_ref\n"
    first = (
        rows + "A,2025-05-01,2025-05-02,TT,reporting,R1\nB,2025-06-01,2025-06-01,JM,outreach,R2\n"
    )
    assert upload(client, key, first.encode()).json()["created"] == 2
    edited = (
        rows + "A,2025-05-01,2025-05-03,TT,reporting,R1\nB,2025-06-01,2025-06-01,JM,outreach,R2\n"
    )
    report = upload(client, key, edited.encode()).json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 1)
    changed = next(a for a in listed(client, key) if a["external_ref"] == "R1")
    assert (changed["end_date"], changed["revision"]) == ("2025-05-03", 2)
    history = client.get(f"{API}/activities/{changed['id']}/history", headers=auth(key)).json()
    entries = history["items"]
    assert [e["action"] for e in entries] == ["activity.create", "activity.update"], history
    assert entries[1]["changes"]["end_date"] == ["2025-05-02", "2025-05-03"]


def test_an_xlsx_export_comes_back_unchanged(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    body = activity_body(
        title="Taller; «regional»",
        countries=["TT", "JM"],
        themes=["export_control", "outreach"],
        partners=["OAS"],
        external_ref="UNL-1",
        start_time="09:00",
        end_time="12:00",
        timezone="America/Port_of_Spain",
        venue={"city": "Port of Spain", "country": "TT", "modality": "hybrid"},
        contact_email="a@b.org",
        url="https://x.org",
        description="=not a formula",
    )
    assert client.post(f"{API}/activities", json=body, headers=auth(key)).status_code == 201
    exported = client.get(f"{API}/exports/activities.xlsx", headers=auth(key)).content
    report = upload(client, key, exported, name="activities.xlsx").json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 1), report


def test_bad_files_are_a_clear_4xx(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    for content, name in (
        (b"", "empty.csv"),
        (b"\x00\x01\x02binary junk", "junk.csv"),
        (b"PK\x03\x04not really a zip", "broken.xlsx"),
        (b"title\n", "header-only.csv"),
        (b"%PDF-1.4 not a table", "calendar.pdf"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2027", "broken.ics"),
    ):
        answer = upload(client, key, content, name=name)
        assert 400 <= answer.status_code < 500, (name, answer.text)
    no_title = upload(client, key, b"start,countries\n2025-01-01,TT\n")
    assert no_title.status_code == 422
    assert no_title.json()["errors"][0]["column"] == "title"
    mapped = upload(
        client,
        key,
        b"Evento raro,Cuando,Donde,Area\nX,2025-01-01,TT,reporting\n",
        mapping='{"Evento raro": "title", "Cuando": "start_date", "Donde": "countries", '
        '"Area": "themes"}',
    )
    assert mapped.status_code == 200, mapped.text
    assert mapped.json()["created"] == 1
    assert upload(client, key, b"a\n1\n", mapping="{not json").status_code == 422
    unknown = upload(client, key, b"a\n1\n", mapping='{"a": "colour"}')
    assert unknown.status_code == 422
    assert "mapping" in unknown.text
    huge_cell = b'title,start\n"' + b"x" * 200_000 + b'",2025-01-01\n'
    assert upload(client, key, huge_cell).status_code == 422


def test_an_xlsx_sheet_by_name(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    workbook = openpyxl.Workbook()
    workbook.active.title = "notes"
    sheet = workbook.create_sheet("plan")
    sheet.append(["Título", "Inicio", "País", "Tema"])
    sheet.append(["Seminario", 45366, "Brasil", "legislation"])  # an Excel serial date
    buffer = io.BytesIO()
    workbook.save(buffer)
    answer = upload(client, key, buffer.getvalue(), name="plan.xlsx", sheet="plan")
    assert answer.status_code == 200, answer.text
    [activity] = listed(client, key)
    assert (activity["start_date"], activity["countries"]) == ("2024-03-15", ["BR"])
    missing = upload(client, key, buffer.getvalue(), name="plan.xlsx", sheet="nope")
    assert missing.status_code == 422


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//EN\r\n"
    "BEGIN:VEVENT\r\nUID:w1@example.org\r\nDTSTAMP:20270101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20270301\r\nDTEND;VALUE=DATE:20270304\r\n"
    "SUMMARY:Taller de control de exportaciones\r\nLOCATION:Port of Spain\r\n"
    "X-UNKNOWN-PROPERTY:kept out\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:m1@example.org\r\nDTSTAMP:20270101T000000Z\r\n"
    "DTSTART;TZID=America/Santiago:20270402T090000\r\n"
    "DTEND;TZID=America/Santiago:20270402T120000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Weekly coordination call\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def test_an_ics_file_with_all_day_timed_and_recurring_events(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    defaults = '{"countries": "TT", "themes": "export_control"}'
    params = {"from": "2027-01-01", "to": "2027-12-31", "defaults": defaults}
    first = upload(client, key, ICS.encode(), name="plan.ics", **params)
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 4  # one all-day event, three weekly occurrences
    activities = sorted(listed(client, key), key=lambda a: a["start_date"])
    workshop = activities[0]
    assert (workshop["start_date"], workshop["end_date"]) == ("2027-03-01", "2027-03-03")
    assert workshop["venue"]["city"] == "Port of Spain"
    assert workshop["external_ref"] == "w1@example.org"
    calls = activities[1:]
    assert [a["start_date"] for a in calls] == ["2027-04-02", "2027-04-09", "2027-04-16"]
    assert {(a["start_time"], a["end_time"], a["timezone"]) for a in calls} == {
        ("09:00", "12:00", "America/Santiago")
    }
    again = upload(client, key, ICS.encode(), name="plan.ics", **params)
    assert again.json()["unchanged"] == 4
    other = make_key("OPCW", "provider")  # its own, new activities: nothing to fall back on
    without_defaults = upload(
        client, other, ICS.encode(), name="plan.ics", dry_run="true", **{"from": "2027-01-01"}
    )
    assert without_defaults.status_code == 200
    errors = without_defaults.json()["errors"]  # no country, no theme: reported per event
    assert [e["row"] for e in errors] == [2, 3, 4, 5]


REAL_ICS = Path(__file__).resolve().parents[3] / "shared" / "external" / "icalendar-calendars"


@pytest.mark.skipif(not REAL_ICS.is_dir(), reason=f"the shared .ics files are not at {REAL_ICS}")
def test_every_real_and_broken_calendar_imports_cleanly_or_is_refused(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    defaults = '{"countries": "TT", "themes": "outreach"}'
    outcomes: dict[int, int] = {}
    for path in sorted(REAL_ICS.glob("*.ics")):
        before = len(listed(client, key))
        answer = upload(
            client,
            key,
            path.read_bytes(),
            name=path.name,
            defaults=defaults,
            **{"from": "2022-01-01", "to": "2022-12-31"},
        )
        assert answer.status_code in (200, 422), (path.name, answer.status_code, answer.text)
        outcomes[answer.status_code] = outcomes.get(answer.status_code, 0) + 1
        if path.name == "example.ics":  # three all-day holidays of 2022
            assert answer.json()["created"] == 3, answer.text
        if answer.status_code == 422:
            assert len(listed(client, key)) == before, path.name  # nothing written
    assert outcomes.get(200, 0) >= 5, outcomes  # most have no event in 2022, or are broken


def test_a_coordinator_imports_for_providers_and_may_create_them(
    client: TestClient, make_key: KeyMaker
) -> None:
    coordinator = make_key("OAS-CICTE", "coordinator")
    make_key("UNLIREC", "provider")
    combined = (
        b"title,provider,start,countries,themes\n"
        b"Taller,UNLIREC,2025-05-01,TT,reporting\n"
        b"Seminar,NEWORG,2025-06-01,JM,outreach\n"
    )
    refused = upload(client, coordinator, combined, dry_run="true")
    [error] = refused.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (3, "provider", "NEWORG")
    created = upload(client, coordinator, combined, create_orgs="true")
    assert created.status_code == 200, created.text
    providers = sorted(a["provider"] for a in listed(client, coordinator))
    assert providers == ["NEWORG", "UNLIREC"]
    provider = make_key("OPCW", "provider")
    foreign = upload(client, provider, combined, create_orgs="true")
    assert foreign.status_code == 422  # a provider writes only its own organization's rows


def test_a_csv_export_comes_back_unchanged(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    for title in ("+1 plan; «uno»", '@mention, "quoted"', "Línea\nnueva"):
        body = activity_body(title=title, countries=["TT"], external_ref=title[:5])
        assert client.post(f"{API}/activities", json=body, headers=auth(key)).status_code == 201
    exported = client.get(f"{API}/exports/activities.csv", headers=auth(key)).content
    report = upload(client, key, exported).json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3), report
    # Names in another language or script change nothing: the codes beside them decide.
    for language in ("fr", "ar", "zh"):
        named = client.get(
            f"{API}/exports/activities.csv", params={"lang": language}, headers=auth(key)
        ).content
        report = upload(client, key, named).json()
        assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3), report


def test_an_xlsx_with_formulas_and_merged_cells(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["title", "start", "end", "countries", "themes"])
    sheet.append(["Merged title", "2025-05-01", "=B2+2", "TT", "reporting"])
    sheet.append([None, "2025-06-01", "2025-06-01", "JM", "outreach"])
    sheet.merge_cells("A2:A3")
    buffer = io.BytesIO()
    workbook.save(buffer)
    answer = upload(client, key, buffer.getvalue(), name="merged.xlsx")
    # A formula without a value saved by a spreadsheet program reads as empty (the end date
    # then defaults to the start); the merged title is empty on row 3: reported, nothing
    # written
    assert answer.status_code == 422, answer.text
    problems = [(e["row"], e["column"], e["message"]) for e in answer.json()["errors"]]
    assert problems == [(3, "title", "Field required")]
    assert listed(client, key) == []


def test_uploads_over_the_limit_get_413(make_key: KeyMaker, settings: Any) -> None:
    from app.main import create_app

    small = settings.model_copy(update={"max_upload_bytes": 2048})
    with TestClient(create_app(small)) as client:
        key = make_key("UNLIREC", "provider")
        answer = upload(client, key, b"title,start\n" + b"x,2025-01-01\n" * 500)
        assert answer.status_code == 413


def test_what_a_fuzzing_review_found(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    empty_start = upload(client, key, b"title,start_date\n A ,   \n")
    assert empty_start.status_code == 422
    assert empty_start.json()["errors"][0]["column"] == "start_date"
    twice = upload(
        client,
        key,
        b"title,start,countries,themes,ref\nA,2025-01-01,TT,reporting,R1\n"
        b"B,2025-02-01,TT,reporting,R1\n",
    )
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["message"] == "the same activity as row 2 of this file"
    ics_head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\n"
    every_second = ics_head + (
        "DTSTAMP:20250101T000000Z\r\nDTSTART:20250301T000000Z\r\nDTEND:20250301T000001Z\r\n"
        "RRULE:FREQ=SECONDLY\r\nSUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    flood = upload(
        client,
        key,
        every_second.encode(),
        name="s.ics",
        **{"from": "2025-03-01", "to": "2025-03-02"},
    )
    assert flood.status_code == 422
    assert "narrow from/to" in flood.text
    backwards = ics_head + (
        "DTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:20250301\r\nDTEND;VALUE=DATE:20250201\r\n"
        "SUMMARY:b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    refused = upload(
        client,
        key,
        backwards.encode(),
        name="b.ics",
        defaults='{"countries": "TT", "themes": "reporting"}',
        **{"from": "2025-01-01"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["column"] == "end_date"
    coordinator = make_key("OAS-CICTE", "coordinator")
    first_bad = (
        "title,provider,start,countries,themes\n"
        + "T" * 400
        + ",NEWORG,2025-01-01,TT,reporting\n"
        + "Good,NEWORG,2025-02-01,TT,reporting\n"
    )
    kept = upload(client, coordinator, first_bad.encode(), create_orgs="true", skip_invalid="true")
    assert kept.status_code == 200, kept.text
    assert (kept.json()["created"], len(kept.json()["errors"])) == (1, 1)


def test_utf16_tab_separated_text_as_excel_saves_it(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    text = "Título\tInicio\tPaís\tTema\nSeminario\t15/03/2024\tPerú\tlegislation\n"
    answer = upload(client, key, text.encode("utf-16"), name="unicode.txt")
    assert answer.status_code == 200, answer.text
    [activity] = listed(client, key)
    assert (activity["title"], activity["countries"]) == ("Seminario", ["PE"])
