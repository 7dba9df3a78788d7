"""Private feeds on the subscribe page, without a browser: a signed-in reader makes one from
the chosen filters (its addresses shown once), sees it listed in words and revokes it; a
mistaken name is explained beside the field; an anonymous reader is invited to sign in."""

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import auth, submit
from tests.web.test_pages import csrf_of, sign_in

API = "/api/v1"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        yield client


def test_anonymous_readers_are_invited_to_sign_in(web: TestClient) -> None:
    page = web.get("/subscribe").text
    assert '<a href="/sign-in?next=/subscribe">sign in to make one</a>' in page
    assert "Make the private feed" not in page
    assert "POST /api/v1/feed-tokens" not in page


def test_a_private_feed_is_made_listed_and_revoked(web: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    other = make_key("OPCW", "provider")
    soon = (date.today() + timedelta(days=30)).isoformat()
    submit(web, key, title="Closed visit", countries=["TT"], visibility="restricted",
           start_date=soon, end_date=soon)  # fmt: skip
    web.post(f"{API}/feed-tokens", json={"label": "Theirs", "filters": {}}, headers=auth(other))
    sign_in(web, key)
    page = web.get("/subscribe?country=TT").text
    assert "You have no private feeds." in page
    assert "It shows what the filters above choose: Trinidad and Tobago." in page

    made = web.post(
        "/subscribe/feeds",
        data={"csrf": csrf_of(page), "label": "Caribbean desk", "country": "TT"},
    )
    assert made.status_code == 201
    url = re.search(r'<code id="made-url">([^<]+)</code>', made.text)
    assert url is not None
    assert "/feeds/private/ft_" in url[1]
    assert re.search(r'<code id="made-webcal_url">webcal://[^<]+</code>', made.text)
    assert '<button type="button" class="secondary copy" data-copy="made-url"' in made.text
    feed = web.get(url[1].removeprefix("https://testserver"))
    assert feed.status_code == 200
    assert "Closed visit" in feed.text  # a private feed shows restricted activities

    listed = web.get("/subscribe").text
    assert "<strong>Caribbean desk</strong> · Trinidad and Tobago · made" in listed
    assert "ft_" not in listed  # the secret is shown once only
    assert "Theirs" not in listed  # another organization's feed
    token_id = re.search(r'action="/subscribe/feeds/([0-9a-f-]{36})/revoke"', listed)
    assert token_id is not None
    revoked = web.post(
        f"/subscribe/feeds/{token_id[1]}/revoke",
        data={"csrf": csrf_of(listed)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    after = web.get(revoked.headers["location"]).text
    assert "Private feed revoked: Caribbean desk." in after
    assert "You have no private feeds." in after
    assert web.get(url[1].removeprefix("https://testserver")).status_code == 404


def test_a_feed_without_a_name_is_explained_beside_the_field(
    web: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("UNLIREC", "provider")
    sign_in(web, key)
    page = web.get("/subscribe").text
    refused = web.post("/subscribe/feeds", data={"csrf": csrf_of(page), "label": "  "})
    assert refused.status_code == 422
    assert "<title>Error: Subscribe" in refused.text
    assert 'href="#feed-label"' in refused.text  # the error summary links to the field
    assert 'aria-describedby="feed-label-hint feed-label-error"' in refused.text
    long = "x" * 101
    kept = web.post("/subscribe/feeds", data={"csrf": csrf_of(page), "label": long})
    assert kept.status_code == 422
    assert f'value="{long}"' in kept.text
    assert web.get(f"{API}/feed-tokens", headers=auth(key)).json() == []


def test_the_forms_carry_the_csrf_token(web: TestClient, make_key: KeyMaker) -> None:
    sign_in(web, make_key("UNLIREC", "provider"))
    forged = web.post("/subscribe/feeds", data={"csrf": "forged", "label": "x"})
    assert forged.status_code == 403


def test_the_page_speaks_spanish(web: TestClient, make_key: KeyMaker) -> None:
    sign_in(web, make_key("UNLIREC", "provider"))
    page = web.get("/subscribe", headers={"accept-language": "es"}).text
    assert "Suscripciones privadas" in page
    assert "Crear la suscripción privada" in page
