"""The people's pages without a browser: signing in by e-mail link (one answer for every
address, limited per address and per client), the link's page and its refusals, whom a
person acts for, /account and its keys, an organization's members page, and the histories
that name the person."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.auth import people
from app.auth.models import ApiKey, AuthLink
from app.config import Settings
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import auth, mails_to, make_member, newest_link, submit

ANA = "ana.perez@oas.org"


@pytest.fixture
def web(settings: Settings, clean_db: None) -> Iterator[TestClient]:
    addressed = settings.model_copy(update={"public_url": "https://testserver"})
    with TestClient(create_app(addressed), base_url="https://testserver") as client:
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def ask_for_link(web: TestClient, email: str) -> tuple[int, str]:
    form = web.get("/sign-in").text
    answer = web.post("/sign-in/email", data={"email": email, "csrf": csrf_of(form)})
    return answer.status_code, answer.text


def follow(web: TestClient, token: str) -> TestClient:
    page = web.get(f"/auth/link/{token}")
    assert page.status_code == 200, page.text
    answer = web.post(
        f"/auth/link/{token}", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return web


def signed_in_as(web: TestClient, engine: Engine, email: str) -> str:
    """`email` signs in by an e-mail link: the page they land on."""
    status, _ = ask_for_link(web, email)
    assert status == 200
    with open_session(engine, write=False) as session:
        token = newest_link(session, email)
    follow(web, token)
    return web.get("/account").text


def test_a_link_by_e_mail_signs_in_once_and_a_used_expired_or_forged_one_says_why(
    web: TestClient, engine: Engine
) -> None:
    make_member(engine, "OAS-CICTE", ANA, name="Ana Pérez")
    status, sent = ask_for_link(web, ANA.upper())
    assert status == 200
    assert "Check your e-mail" in sent
    with open_session(engine, write=False) as session:
        token = newest_link(session, ANA)
        mail = mails_to(session, ANA)[0]
    assert "15 minutes" in mail.text_body
    landing = web.get(f"/auth/link/{token}")
    assert f"You are signing in as {ANA}" in landing.text
    assert "Sign out" not in landing.text  # looking at the link signs no one in
    signed = web.post(
        f"/auth/link/{token}", data={"csrf": csrf_of(landing.text)}, follow_redirects=False
    )
    assert (signed.status_code, signed.headers["location"]) == (303, "/")
    assert "HttpOnly" in signed.headers["set-cookie"]
    assert "Ana Pérez" in web.get("/").text

    again = TestClient(web.app, base_url="https://testserver")
    used = again.get(f"/auth/link/{token}")
    assert used.status_code == 410
    assert "used already" in used.text
    refused = again.post(f"/auth/link/{token}", data={"csrf": csrf_of(again.get("/sign-in").text)})
    assert refused.status_code == 410
    assert "Sign out" not in refused.text

    ask_for_link(again, ANA)
    with open_session(engine, write=True) as session:
        token = newest_link(session, ANA)
        session.execute(sa.update(AuthLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    expired = again.get(f"/auth/link/{token}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    forged = again.get(f"/auth/link/{'A' * 43}")
    assert forged.status_code == 404
    assert "not one of ours" in forged.text


def test_the_sign_in_page_answers_the_same_for_an_address_it_does_not_know(
    web: TestClient, engine: Engine
) -> None:
    make_member(engine, "OAS-CICTE", ANA)
    _, known = ask_for_link(web, ANA)
    _, unknown = ask_for_link(web, "nobody@example.org")
    assert known.replace(ANA, "X") == unknown.replace("nobody@example.org", "X")
    with open_session(engine, write=False) as session:
        assert mails_to(session, "nobody@example.org") == []
        assert len(mails_to(session, ANA)) == 2  # the invitation and the sign-in link
    status, page = ask_for_link(web, "not an address")
    assert status == 422
    assert 'aria-invalid="true"' in page


def test_sign_in_e_mails_are_limited_per_address_and_per_client(
    web: TestClient, engine: Engine
) -> None:
    make_member(engine, "OAS-CICTE", ANA)
    assert [ask_for_link(web, ANA)[0] for _ in range(4)] == [200, 200, 200, 429]
    with open_session(engine, write=False) as session:
        assert len(mails_to(session, ANA)) == 1 + 3
    # Other addresses from the same client: ten in all, then no more.
    answers = [ask_for_link(web, f"person{n}@example.org")[0] for n in range(7)]
    assert answers == [200] * 6 + [429]
    limited = ask_for_link(web, "someone@example.org")
    assert limited[0] == 429
    assert "try again in" in limited[1]


def test_a_person_of_two_organizations_acts_for_one_at_a_time(
    web: TestClient, engine: Engine
) -> None:
    make_member(engine, "OAS-CICTE", ANA, name="Ana Pérez", role="provider")
    second = make_member(engine, "UNLIREC", ANA, role="coordinator")
    page = signed_in_as(web, engine, ANA)
    assert 'id="acting-for"' in page  # the header's switch, on the first (by acronym)
    assert web.get("/review").status_code == 403  # as OAS-CICTE's provider
    switched = web.post(
        "/account/acting-for",
        data={"csrf": csrf_of(page), "membership": str(second.membership_id), "next": "/review"},
        follow_redirects=False,
    )
    assert (switched.status_code, switched.headers["location"]) == (303, "/review")
    assert web.get("/review").status_code == 200  # as UNLIREC's coordinator
    stranger = make_member(engine, "OPCW", "someone@opcw.org")
    refused = web.post(
        "/account/acting-for",
        data={"csrf": csrf_of(page), "membership": str(stranger.membership_id)},
    )
    assert refused.status_code == 403
    forged = web.post(
        "/account/acting-for", data={"csrf": "x" * 30, "membership": str(second.membership_id)}
    )
    assert forged.status_code == 403


def test_the_account_page_keeps_a_name_and_language_and_makes_keys_never_above_the_role(
    web: TestClient, engine: Engine
) -> None:
    make_member(engine, "UNLIREC", ANA, name="Ana Pérez", role="provider")
    page = signed_in_as(web, engine, ANA)
    assert '<option value="coordinator"' not in page.split('id="key-role"')[1].split("</select>")[0]
    blank = web.post("/account", data={"csrf": csrf_of(page), "name": " ", "language": "es"})
    assert blank.status_code == 422
    saved = web.post(
        "/account",
        data={"csrf": csrf_of(page), "name": "Ana P. Pérez", "language": "es"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "assistcal_lang=es" in saved.headers["set-cookie"]
    assert "Ana P. Pérez" in web.get("/account").text

    above = web.post("/account/keys", data={"csrf": csrf_of(page), "role": "coordinator"})
    assert above.status_code == 403
    made = web.post(
        "/account/keys", data={"csrf": csrf_of(page), "role": "provider", "name": "sheet"}
    )
    assert made.status_code == 200
    key = re.search(r'id="new-key">([^<]+)<', made.text)
    assert key is not None
    me = web.get("/api/v1/me", headers=auth(key.group(1))).json()
    assert (me["role"], me["person"]["name"]) == ("provider", "Ana P. Pérez")
    key_id = re.search(r'action="/keys/([0-9a-f-]{36})/revoke"', made.text)
    assert key_id is not None
    revoked = web.post(
        f"/keys/{key_id.group(1)}/revoke", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert web.get("/api/v1/me", headers=auth(key.group(1))).status_code == 401


def test_the_members_page_invites_changes_and_removes_and_the_member_is_out_at_once(
    web: TestClient, engine: Engine, make_key: KeyMaker
) -> None:
    make_member(engine, "OAS-CICTE", "boss@oas.org", name="Jefa", manages=True)
    signed_in_as(web, engine, "boss@oas.org")
    page = web.get("/organizations/OAS-CICTE/members").text
    assert "Organization key" not in page
    make_key("OAS-CICTE", "provider")  # an organization's own key is listed as such
    page = web.get("/organizations/OAS-CICTE/members").text
    assert "Organization key" in page
    assert web.get("/organizations/UNLIREC/members").status_code in (403, 404)
    make_member(engine, "UNLIREC", "x@unlirec.org")
    assert web.get("/organizations/UNLIREC/members").status_code == 403

    no_csrf = web.post("/organizations/OAS-CICTE/members", data={"email": ANA, "role": "provider"})
    assert no_csrf.status_code == 422  # the form's csrf field is required
    bad = web.post(
        "/organizations/OAS-CICTE/members",
        data={"csrf": csrf_of(page), "email": "ana at oas", "role": "provider"},
    )
    assert bad.status_code == 422
    assert 'id="invite-email-error"' in bad.text
    above = web.post(
        "/organizations/OAS-CICTE/members",
        data={"csrf": csrf_of(page), "email": ANA, "role": "admin"},
    )
    assert above.status_code == 403
    invited = web.post(
        "/organizations/OAS-CICTE/members",
        data={"csrf": csrf_of(page), "email": ANA, "role": "provider", "name": "Ana Pérez"},
        follow_redirects=False,
    )
    assert invited.status_code == 303
    listed = web.get(invited.headers["location"]).text
    assert f"Invitation sent to {ANA}" in listed
    twice = web.post(
        "/organizations/OAS-CICTE/members",
        data={"csrf": csrf_of(page), "email": ANA, "role": "provider"},
        follow_redirects=False,
    )
    assert twice.status_code == 303  # not joined yet: a new link

    ana = TestClient(web.app, base_url="https://testserver")
    with open_session(engine, write=False) as session:
        token = newest_link(session, ANA)
    follow(ana, token)
    with open_session(engine, write=False) as session:
        person = people.by_email(session, ANA)
        assert person is not None
        ((membership, _),) = people.memberships(session, person.id)
    member_id = membership.id
    assert "Ana Pérez" in ana.get("/").text
    changed = web.post(
        f"/organizations/OAS-CICTE/members/{member_id}",
        data={"csrf": csrf_of(page), "role": "coordinator"},
        follow_redirects=False,
    )
    assert changed.status_code == 403  # above the manager's own role (provider)
    removed = web.post(
        f"/organizations/OAS-CICTE/members/{member_id}/remove",
        data={"csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    out = ana.get("/account", follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/sign-in?next=%2Faccount")


def test_histories_name_the_person_who_acted(
    web: TestClient, engine: Engine, make_key: KeyMaker
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_member(
        engine, "OAS-CICTE", ANA, name="Ana Pérez", role="coordinator", key_role="coordinator"
    )
    assert coordinator.key is not None
    first = submit(web, provider, title="National workshop on export control", countries=["JM"])
    submit(
        web,
        provider,
        title="Taller nacional sobre control de exportaciones",
        countries=["JM"],
        language="es",
    )
    queue_page = signed_in_as(web, engine, ANA)
    queue_page = web.get("/review").text
    finding = re.findall(r'id="finding-([0-9a-f-]{36})"', queue_page)[0]
    web.post(
        f"/review/{finding}",
        data={"decision": "dismiss", "note": "different audiences", "csrf": csrf_of(queue_page)},
    )
    decided = web.get(f"/api/v1/findings/{finding}", headers=auth(coordinator.key)).json()
    assert decided["decided_by"] == "Ana Pérez (OAS-CICTE)"
    page = web.get(f"/activity/{first['id']}").text
    assert "decided by Ana Pérez (OAS-CICTE)" in page

    request = web.post(
        "/api/v1/assistance-requests",
        json={
            "country": "TT",
            "themes": ["reporting"],
            "help_sought": "workshop",
            "language": "en",
        },
        headers=auth(coordinator.key),
    ).json()
    assert request["history"][0]["by"] == "Ana Pérez (OAS-CICTE)"
    history = web.get(f"/api/v1/activities/{first['id']}/history", headers=auth(provider)).json()
    assert history["items"][0]["actor_name"] is None  # an organization key is no person


def test_without_a_public_address_links_go_only_to_this_machine(
    settings: Settings, engine: Engine, clean_db: None
) -> None:
    """Links sent by e-mail are made from ASSISTCAL_PUBLIC_URL; without it, from the address
    of a request to this machine only: a Host header sent from elsewhere could put another
    site, and the link's secret, in someone's e-mail."""
    make_member(engine, "OAS-CICTE", ANA)
    app = create_app(settings)  # no public_url
    with TestClient(app, base_url="https://calendar.evil.example") as elsewhere:
        status, page = ask_for_link(elsewhere, ANA)
    assert status == 503
    assert "ASSISTCAL_PUBLIC_URL" in page
    with TestClient(app, base_url="https://127.0.0.1:8000") as here:
        assert ask_for_link(here, ANA)[0] == 200
    with open_session(engine, write=False) as session:
        assert "https://127.0.0.1:8000/auth/link/" in mails_to(session, ANA)[0].text_body


def test_a_persons_key_signs_in_to_the_pages_with_the_keys_role_and_ends_with_it(
    web: TestClient, engine: Engine
) -> None:
    member = make_member(
        engine, "OAS-CICTE", ANA, name="Ana Pérez", role="coordinator", manages=True,
        key_role="provider",
    )  # fmt: skip
    assert member.key is not None
    form = web.get("/sign-in").text
    signed = web.post(
        "/sign-in", data={"key": member.key, "csrf": csrf_of(form)}, follow_redirects=False
    )
    assert signed.status_code == 303
    page = web.get("/account").text
    assert "Ana Pérez" in page
    assert 'id="acting-for"' not in page  # a key acts for its own organization
    assert web.get("/review").status_code == 403  # the key's role, not the person's
    assert (
        web.post("/account/keys", data={"csrf": csrf_of(page), "role": "coordinator"}).status_code
        == 403
    )
    with open_session(engine, write=True) as session:
        session.execute(sa.update(ApiKey).values(revoked_at=utcnow()))
        session.commit()
    gone = web.get("/account", follow_redirects=False)
    assert gone.status_code == 303  # to the sign-in page


def test_an_invitation_whose_link_expired_signs_no_one_in(web: TestClient, engine: Engine) -> None:
    make_member(engine, "OAS-CICTE", ANA, join=False)
    with open_session(engine, write=True) as session:
        session.execute(sa.update(AuthLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert ask_for_link(web, ANA)[0] == 200  # the same answer
    with open_session(engine, write=True) as session:
        assert len(mails_to(session, ANA)) == 1  # the invitation only: no sign-in link
        with pytest.raises(people.LinkRefused, match="not_invited"):
            people.single_sign_on(session, ANA, verified=True)


def test_names_stay_on_one_line(web: TestClient, engine: Engine, make_key: KeyMaker) -> None:
    admin = make_key("ASSISTCAL", "admin")
    make_key("OAS-CICTE", "provider")
    answer = web.post(
        "/api/v1/organizations/OAS-CICTE/members",
        json={"email": ANA, "role": "provider", "name": "Ana\nPérez (UNODA)"},
        headers=auth(admin),
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "name"
    make_member(engine, "UNLIREC", "luis@unlirec.org", name="Luis")
    page = signed_in_as(web, engine, "luis@unlirec.org")
    renamed = web.post(
        "/account", data={"csrf": csrf_of(page), "name": "Luis\r\nAdmin", "language": "en"}
    )
    assert renamed.status_code == 422
