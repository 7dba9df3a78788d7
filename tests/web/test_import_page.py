"""The import page: a row that may be a stored activity is shown beside it, with what it
changes, and the reader chooses (update it, or create a new one) before confirming."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import auth
from tests.web.test_pages import csrf_of, sign_in

API = "/api/v1"
HEADER = b"title,start,end,countries,themes\n"
FIRST = b"National workshop on export control,2025-05-05,2025-05-07,TT,export_control\n"
MOVED = b"National workshop on export control,2025-05-12,2025-05-14,TT,export_control\n"
# Words added and a day moved: perhaps the same activity
UNSURE = b"Regional national workshop on export control,2025-05-06,2025-05-07,TT,export_control\n"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def activities(web: TestClient, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = web.get(f"{API}/activities", headers=auth(key)).json()["items"]
    return items


def check(web: TestClient, content: bytes, **headers: str) -> str:
    form = web.get("/import", headers=headers).text
    answer = web.post(
        "/import",
        data={"csrf": csrf_of(form)},
        files={"file": ("plan.csv", HEADER + content)},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def confirm(web: TestClient, page: str, **choices: str) -> str:
    pending = re.search(r'name="pending" value="([^"]+)"', page)
    assert pending, page
    data = {"csrf": csrf_of(page), "pending": pending.group(1), "confirm": "true", **choices}
    answer = web.post("/import", data=data)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_corrected_date_shows_as_an_update_of_the_stored_activity(
    web: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    confirm(web, check(web, FIRST))
    [stored] = activities(web, key)
    page = check(web, MOVED)
    assert "Rows that match activities already stored" in page
    assert f'href="/activity/{stored["id"]}"' in page
    assert re.search(r"Start date</th><td>[^<]*\b5\b[^<]*</td><td>[^<]*\b12\b[^<]*</td>", page)
    assert 'type="radio"' not in page  # certain: nothing to choose
    done = confirm(web, page)
    assert "updated" in done
    [after] = activities(web, key)
    assert (after["id"], after["start_date"], after["revision"]) == (stored["id"], "2025-05-12", 2)


@pytest.mark.parametrize("choose", ["update", "new"])
def test_an_uncertain_row_is_chosen_on_the_page(
    web: TestClient, make_key: KeyMaker, choose: str
) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    confirm(web, check(web, FIRST))
    [stored] = activities(web, key)
    page = check(web, UNSURE)
    assert "Is row 2 this activity?" in page
    radios = re.findall(
        r'<input type="radio" form="confirm-import" name="choice-2" value="([^"]+)"', page
    )
    assert radios == [stored["id"], "new"]
    assert "Update this activity" in page
    assert "Create a new one" in page
    # the radios travel with the confirmation (their form attribute names its form)
    assert '<form method="post" action="/import"' in page
    assert 'id="confirm-import"' in page
    done = confirm(web, page, **{"choice-2": stored["id"] if choose == "update" else "new"})
    assert "As you chose." in done
    stored_now = {a["id"]: a for a in activities(web, key)}
    if choose == "update":
        assert list(stored_now) == [stored["id"]]
        assert stored_now[stored["id"]]["title"] == "Regional national workshop on export control"
    else:
        assert len(stored_now) == 2
        assert stored_now[stored["id"]]["revision"] == 1


def test_the_choices_in_spanish_and_a_bad_choice(web: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    confirm(web, check(web, FIRST))
    page = check(web, UNSURE, **{"Accept-Language": "es"})
    assert "¿Es la fila 2 esta actividad?" in page
    assert "Actualizar esta actividad" in page
    bad = confirm_raw(web, page, **{"choice-2": "the first one"})
    assert bad.status_code == 422
    assert "choices" in bad.text
    assert bad.headers["content-type"].startswith("text/html")


def confirm_raw(web: TestClient, page: str, **choices: str) -> Any:
    pending = re.search(r'name="pending" value="([^"]+)"', page)
    assert pending
    data = {"csrf": csrf_of(page), "pending": pending.group(1), "confirm": "true", **choices}
    return web.post("/import", data=data)


def test_an_iati_file_shows_what_it_could_not_import(web: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    form = web.get("/import").text
    iati = (
        b'<iati-activities version="2.03"><iati-activity xml:lang="en">'
        b"<iati-identifier>XM-DAC-1-A</iati-identifier>"
        b'<reporting-org ref="XM-DAC-1" type="40"><narrative>Donor</narrative></reporting-org>'
        b"<title><narrative>Export control workshop</narrative></title>"
        b'<activity-date type="1" iso-date="2025-05-05"/>'
        b'<recipient-country code="TT"/><sector vocabulary="99" code="export_control"/>'
        b'<budget type="1"/></iati-activity></iati-activities>'
    )
    answer = web.post("/import", data={"csrf": csrf_of(form)}, files={"file": ("donor.xml", iati)})
    assert answer.status_code == 200, answer.text
    assert "Row 2 (XM-DAC-1-A): not imported (no field holds them): budget" in answer.text
