"""An edited file updates the activities it holds, with or without a reference column: rows
found by the export's `id`, or by their likeness to a stored activity of their provider
(dates moved, a State added, a typo fixed), the uncertain ones as the importer chooses."""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth
from tests.imports.test_imports import API, listed, upload

HEADER = "title,start,end,countries,themes,type\n"
PLAN = (
    "National workshop on export control,2025-05-05,2025-05-07,TT,export_control,workshop\n"
    "Customs training on strategic goods,2025-06-10,2025-06-11,JM,border_control,training\n"
)


def imported(client: TestClient, key: str, rows: str = PLAN) -> dict[str, dict[str, Any]]:
    answer = upload(client, key, (HEADER + rows).encode())
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == rows.count("\n")
    return {a["title"]: a for a in listed(client, key)}


def edited(rows: str, old: str, new: str) -> bytes:
    assert old in rows
    return (HEADER + rows.replace(old, new)).encode()


def test_every_export_of_api_made_activities_comes_back_unchanged(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    # Two records alike in title and dates (without an id, the same derived reference)
    for city in ("Port of Spain", "San Fernando"):
        body = activity_body(venue={"city": city, "country": "TT", "modality": "in_person"})
        assert client.post(f"{API}/activities", json=body, headers=auth(key)).status_code == 201
    body = activity_body(title="Seminario", language="es", description="=1+1", domains=["nuclear"])
    assert client.post(f"{API}/activities", json=body, headers=auth(key)).status_code == 201
    for name in ("activities.csv", "activities.xlsx"):
        exported = client.get(f"{API}/exports/{name}", headers=auth(key)).content
        report = upload(client, key, exported, name=name).json()
        assert (report["created"], report["updated"], report["unchanged"]) == (0, 0, 3), report
        assert report["errors"] == report["matched"] == []
        assert "id" in report["mapping"]
    assert len(listed(client, key)) == 3
    # The same record typed into a spreadsheet, without id or reference: found alike
    sheet = (
        "title,start,end,countries,themes,type,language,domains\n"
        "Seminario,2025-03-10,2025-03-12,TT,national_action_plan,workshop,es,nuclear\n"
    )
    report = upload(client, key, sheet.encode()).json()
    assert (report["created"], report["unchanged"], report["matched"]) == (0, 1, []), report


def test_an_id_updates_its_activity_and_names_only_its_providers(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    created = client.post(f"{API}/activities", json=activity_body(), headers=auth(key)).json()[
        "activity"
    ]
    exported = client.get(f"{API}/exports/activities.csv", headers=auth(key)).text
    retitled = exported.replace("National workshop on 1540", "Regional course on 1540")
    report = upload(client, key, retitled.encode("utf-8")).json()
    assert (report["created"], report["updated"]) == (0, 1), report
    [activity] = listed(client, key)
    assert (activity["id"], activity["title"]) == (
        created["id"],
        "Regional course on 1540 implementation",
    )
    history = client.get(f"{API}/activities/{created['id']}/history", headers=auth(key)).json()
    assert history["items"][-1]["changes"]["reason"] == "import, row 2: found by its id"

    other = make_key("OPCW", "provider")
    foreign = f"title,start,countries,themes,id\nMine,2025-03-10,TT,reporting,{created['id']}\n"
    refused = upload(client, other, foreign.encode())
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (error["column"], error["value"]) == ("id", created["id"])
    assert "not an activity of OPCW" in error["message"]
    # An id that names no activity (another calendar's, a file's own numbers): a new row
    unknown = "title,start,countries,themes,ID\nA,2025-03-10,TT,reporting,7\n"
    assert upload(client, other, unknown.encode()).json()["created"] == 1
    twice = (
        "title,start,countries,themes,id,external_ref\n"
        f"A,2025-03-10,TT,reporting,{created['id']},\n"
        f"B,2025-03-10,TT,reporting,{created['id']},\n"
    )
    answer = upload(client, key, twice.encode(), dry_run="true").json()
    [error] = answer["errors"]
    assert (error["row"], error["column"]) == (3, "id")
    assert error["message"] == "the same activity as row 2 of this file"


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("2025-05-05,2025-05-07", "2025-05-12,2025-05-14", {"start_date", "end_date"}),
        (
            "2025-05-05,2025-05-07,TT",
            '2025-05-06,2025-05-07,"TT, BB"',
            {"start_date", "countries"},
        ),
        ("National workshop on export", "Nacional workshop on export", {"title"}),
        (
            "05-07,TT,export_control,workshop",
            "05-09,TT,export_control,seminar",
            {"end_date", "activity_type"},
        ),
    ],
    ids=[
        "dates moved",
        "a State added and a day moved",
        "a typo in the title",
        "an end date and the type",
    ],
)
def test_a_corrected_row_without_reference_updates_its_activity(
    client: TestClient, make_key: KeyMaker, old: str, new: str, changed: set[str]
) -> None:
    key = make_key("UNLIREC", "provider")
    before = imported(client, key)["National workshop on export control"]
    file = edited(PLAN, old, new)
    dry = upload(client, key, file, dry_run="true").json()
    assert (dry["created"], dry["updated"], dry["unchanged"]) == (0, 1, 1), dry
    [match] = dry["matched"]
    assert (match["row"], match["certain"], match["action"]) == (2, True, "update")
    assert (match["activity_id"], match["title"]) == (before["id"], before["title"])
    [candidate] = match["candidates"]
    assert set(candidate["changes"]) == changed
    assert dry["findings"] == []

    done = upload(client, key, file).json()
    assert (done["created"], done["updated"]) == (0, 1)
    after = {a["id"]: a for a in listed(client, key)}
    assert len(after) == 2
    assert after[before["id"]]["revision"] == 2
    history = client.get(f"{API}/activities/{before['id']}/history", headers=auth(key)).json()
    last = history["items"][-1]
    assert last["changes"]["reason"] == "import, row 2: found as the same activity, corrected"
    assert set(last["changes"]) == changed | {"reason"}
    findings = client.get(f"{API}/findings", params={"activity": before["id"]}, headers=auth(key))
    assert findings.json()["items"] == []  # no duplicate of itself
    again = upload(client, key, file).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_an_uncertain_row_creates_unless_the_importer_chooses(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    stored = imported(client, key)["National workshop on export control"]
    file = edited(
        PLAN,
        "National workshop on export control,2025-05-05",
        "Workshop on export control,2025-05-06",
    )
    dry = upload(client, key, file, dry_run="true").json()
    assert (dry["created"], dry["updated"], dry["unchanged"]) == (1, 0, 1), dry
    [match] = dry["matched"]
    assert (match["certain"], match["action"], match["activity_id"]) == (False, "create", None)
    assert "a new activity unless you choose" in match["note"]
    [candidate] = match["candidates"]
    assert candidate["id"] == stored["id"]
    assert candidate["changes"]["title"] == [stored["title"], "Workshop on export control"]
    assert candidate["changes"]["start_date"] == ["2025-05-05", "2025-05-06"]
    assert len(dry["findings"]) == 1  # created, it would duplicate the stored one

    chosen = upload(client, key, file, choices=json.dumps({"2": stored["id"]})).json()
    assert (chosen["created"], chosen["updated"]) == (0, 1), chosen
    [match] = chosen["matched"]
    assert (match["action"], match["chosen"], match["activity_id"]) == (
        "update",
        True,
        stored["id"],
    )
    assert len(listed(client, key)) == 2
    history = client.get(f"{API}/activities/{stored['id']}/history", headers=auth(key)).json()
    reason = history["items"][-1]["changes"]["reason"]
    assert reason == "import, row 2: found as the same activity, by the importer's choice"

    # Another row alike, kept apart by choice
    regional = edited(
        PLAN,
        "National workshop on export control,2025-05-05",
        "Regional workshop on export control,2025-05-06",
    )
    apart = upload(client, key, regional, choices='{"2": "new"}').json()
    assert (apart["created"], apart["updated"], apart["unchanged"]) == (1, 0, 1), apart
    [match] = apart["matched"]
    assert (match["action"], match["chosen"], match["note"]) == (
        "create",
        True,
        "you chose a new activity",
    )
    assert len(listed(client, key)) == 3


def test_two_rows_may_not_be_one_stored_activity(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    stored = imported(client, key)["National workshop on export control"]
    moved = "National workshop on export control,2025-05-08,2025-05-10,TT,export_control,workshop\n"
    later = "National workshop on export control,2025-05-15,2025-05-17,TT,export_control,workshop\n"
    dry = upload(client, key, (HEADER + moved + later).encode(), dry_run="true").json()
    assert dry["created"] == 2
    assert [(m["row"], m["certain"], m["action"]) for m in dry["matched"]] == [
        (2, False, "create"),
        (3, False, "create"),
    ]
    assert "another row of the file" in dry["matched"][0]["note"]
    both = json.dumps({"2": stored["id"], "3": stored["id"]})
    refused = upload(client, key, (HEADER + moved + later).encode(), choices=both)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (error["row"], error["column"]) == (3, "choices")
    assert error["message"] == "the same activity as row 2 of this file"
    # A row with the stored one's title and dates is it (by its derived reference); the other
    # row then has nothing to be
    same = PLAN.splitlines(keepends=True)[0]
    report = upload(client, key, (HEADER + moved + same).encode(), dry_run="true").json()
    assert (report["created"], report["updated"], report["unchanged"]) == (1, 0, 1), report
    assert report["matched"] == []


def test_a_row_of_another_provider_never_matches(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    imported(client, key)
    coordinator = make_key("OAS-CICTE", "coordinator")
    make_key("OPCW", "provider")
    rows = "title,provider,start,end,countries,themes\n" + (
        "National workshop on export control,OPCW,2025-05-06,2025-05-07,TT,export_control\n"
    )
    report = upload(client, coordinator, rows.encode(), dry_run="true").json()
    assert (report["created"], report["updated"], report["matched"]) == (1, 0, []), report


def test_bad_choices_are_a_4xx_naming_the_field(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    stored = imported(client, key)
    file = (HEADER + PLAN).encode()
    for choices in (
        "{not json",
        '["new"]',
        '{"two": "new"}',
        '{"1": "new"}',
        '{"2": "maybe"}',
        '{"2": 5}',
        '{"99": "new"}',
        '{"\u00b2": "new"}',  # a superscript two: a digit to str.isdigit, not to int()
        '{"\u0662": "new"}',  # an Arabic-Indic two
    ):
        answer = upload(client, key, file, choices=choices)
        assert answer.status_code == 422, (choices, answer.text)
        assert answer.json()["error"]["details"][0]["field"] == "choices", answer.text
    # A choice where there is nothing to choose: the row's error, on `choices`
    other = stored["Customs training on strategic goods"]["id"]
    answer = upload(client, key, file, choices=json.dumps({"2": other}))
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (2, "choices", other)
