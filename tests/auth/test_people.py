"""People (DOMAIN.md, "People"): invitations, single-use links, single sign-on's matching,
people's own keys, and removal ending every session and key at once.  The services are
called in sessions of their own; the API through TestClient."""

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.auth import people
from app.auth.models import ApiKey, AuthLink, Membership, Person
from app.cli import app as cli_app
from app.core.timeutil import utcnow
from app.db.engine import open_session
from app.mail.models import OutboxMail
from app.tables import metadata
from app.web import auth as web_auth
from app.web.models import WebSession
from tests.conftest import KeyMaker
from tests.helpers import activity_body, auth, mails_to, make_member, newest_link

API = "/api/v1"
A, B = "UNLIREC", "OPCW"
ANA = "ana.perez@example.org"


def members_url(acronym: str, member_id: object = None) -> str:
    tail = f"/{member_id}" if member_id is not None else ""
    return f"{API}/organizations/{acronym}/members{tail}"


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A short write session per use is what the app needs (on SQLite one writer at a
    time): this one is for reading after the app wrote, and for calling the services."""
    with open_session(engine, write=True) as session:
        yield session
        session.rollback()


def fresh(engine: Engine) -> Session:
    return open_session(engine, write=True)


@pytest.fixture
def admin(make_key: KeyMaker) -> str:
    make_key(A, "provider")
    make_key(B, "provider")
    return make_key("ASSISTCAL", "admin")


def invite(client: TestClient, key: str, acronym: str = A, **body: Any) -> Any:
    return client.post(
        members_url(acronym), json={"email": ANA, "role": "provider", **body}, headers=auth(key)
    )


def state(engine: Engine) -> dict[str, Any]:
    """What signing in may change: people, memberships and links."""
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(metadata.tables[name]).order_by(order)).all()
            for name, order in (
                ("person", "email"),
                ("membership", "id"),
                ("auth_link", "token_hash"),
            )
        }


def refuse(engine: Engine, token: str) -> pytest.ExceptionInfo[people.LinkRefused]:
    """follow_link refuses `token`; the session is committed after, as a page that shows
    the refusal would, so a refusal must leave nothing half done."""
    with fresh(engine) as session:
        with pytest.raises(people.LinkRefused) as refused:
            people.follow_link(session, token)
        session.commit()
    return refused


# Invitations -------------------------------------------------------------------------------


def test_an_admin_invites_and_one_mail_goes_to_the_address(
    client: TestClient, admin: str, make_key: KeyMaker, engine: Engine
) -> None:
    answer = invite(
        client,
        admin,
        name="Ana Pérez",
        role="coordinator",
        manages=True,
        email="Ana.Perez@Example.ORG",
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert {k: body[k] for k in ("email", "name", "role", "manages", "status")} == {
        "email": ANA,
        "name": "Ana Pérez",
        "role": "coordinator",
        "manages": True,
        "status": "invited",
    }
    with fresh(engine) as session:
        sent = mails_to(session, ANA)
        assert len(sent) == 1
        token = newest_link(session, ANA)
        link = session.get(AuthLink, hashlib.sha256(token.encode()).hexdigest())
        assert link is not None
        assert link.purpose == "invitation"
        assert str(link.membership_id) == body["id"]
        assert token not in str(link.token_hash)  # only the hash is kept
        membership = session.get(Membership, link.membership_id)
        assert membership is not None
        assert membership.status == "invited"

    refused = invite(client, make_key(A, "provider"), email="bo@example.org")
    assert refused.status_code == 403, refused.text
    with fresh(engine) as session:
        assert mails_to(session, "bo@example.org") == []
        assert people.by_email(session, "bo@example.org") is None


def test_a_second_invitation_elsewhere_adds_a_membership_to_the_same_person(
    client: TestClient, admin: str, engine: Engine
) -> None:
    assert invite(client, admin, A, name="Ana Pérez").status_code == 201
    again = invite(client, admin, B, email="ANA.PEREZ@example.org", role="coordinator")
    assert again.status_code == 201, again.text
    assert again.json()["email"] == ANA
    with fresh(engine) as session:
        found = session.exec(select(Person)).all()
        assert [p.email for p in found] == [ANA]
        assert found[0].name == "Ana Pérez"  # the second invitation names no one: kept
        held = {
            (o.acronym, m.role)
            for m, o in people.memberships(session, found[0].id, active_only=False)
        }
        assert held == {(A, "provider"), (B, "coordinator")}
        assert len(mails_to(session, ANA)) == 2
    listed_b = client.get(members_url(B), headers=auth(admin)).json()
    assert [(m["email"], m["role"], m["status"]) for m in listed_b] == [
        (ANA, "coordinator", "invited")
    ]


def test_inviting_again_sends_a_new_link_until_joined_then_is_a_conflict(
    client: TestClient, admin: str, engine: Engine
) -> None:
    first = invite(client, admin)
    assert first.status_code == 201
    second = invite(client, admin, email=ANA.upper())
    assert second.status_code == 201, second.text
    assert second.json()["id"] == first.json()["id"]  # the same membership, a new link
    with fresh(engine) as session:
        assert len(mails_to(session, ANA)) == 2
        people.follow_link(session, newest_link(session, ANA))
        session.commit()
    conflict = invite(client, admin, email="Ana.Perez@example.org")
    assert conflict.status_code == 409, conflict.text
    with fresh(engine) as session:
        assert len(mails_to(session, ANA)) == 2
        assert len(session.exec(select(Membership)).all()) == 1


# Links ------------------------------------------------------------------------------------


def test_following_the_invitation_link_activates_every_membership(
    client: TestClient, admin: str, engine: Engine
) -> None:
    to_a = invite(client, admin, A).json()["id"]
    invite(client, admin, B)
    with fresh(engine) as session:
        token = newest_link(session, ANA)  # B's invitation: the newest
        before = utcnow()
        signed_in = people.follow_link(session, token)
        session.commit()
    assert signed_in.person.email == ANA
    assert str(signed_in.membership_id) != to_a  # the link's own membership, B's
    with fresh(engine) as session:
        person = people.by_email(session, ANA)
        assert person is not None
        assert person.joined_at is not None
        assert person.joined_at >= before - timedelta(seconds=1)
        held = people.memberships(session, person.id, active_only=False)
        assert {(o.acronym, m.status) for m, o in held} == {(A, "active"), (B, "active")}
    listed = client.get(members_url(A), headers=auth(admin)).json()
    assert [m["status"] for m in listed] == ["active"]


def test_a_used_link_is_refused_and_changes_nothing(
    client: TestClient, admin: str, engine: Engine
) -> None:
    invite(client, admin)
    with fresh(engine) as session:
        token = newest_link(session, ANA)
        people.follow_link(session, token)
        session.commit()
    before = state(engine)
    refused = refuse(engine, token)
    assert refused.value.reason == "used"
    assert state(engine) == before


def test_an_expired_link_is_refused(client: TestClient, admin: str, engine: Engine) -> None:
    invite(client, admin)
    with fresh(engine) as session:
        token = newest_link(session, ANA)
        session.execute(
            sa.update(AuthLink)
            .where(col(AuthLink.token_hash) == hashlib.sha256(token.encode()).hexdigest())
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    before = state(engine)
    refused = refuse(engine, token)
    assert refused.value.reason == "expired"
    assert state(engine) == before
    with fresh(engine) as session:
        person = people.by_email(session, ANA)
        assert person is not None
        assert person.joined_at is None


@pytest.mark.parametrize("token", ["F0rged-" + "x" * 36, "short", "x" * 500, ""])
def test_a_forged_link_is_unknown(
    client: TestClient, admin: str, engine: Engine, token: str
) -> None:
    invite(client, admin)
    before = state(engine)
    refused = refuse(engine, token)
    assert refused.value.reason == "unknown"
    assert state(engine) == before


def test_a_sign_in_link_goes_only_to_a_member_and_lasts_15_minutes(
    client: TestClient, admin: str, engine: Engine
) -> None:
    with fresh(engine) as session:
        assert people.request_sign_in(session, "nobody@example.org", base_url="https://x") is False
        session.commit()
    with fresh(engine) as session:
        assert session.exec(select(OutboxMail)).all() == []
    invite(client, admin)
    with fresh(engine) as session:
        invitation = newest_link(session, ANA)
        assert people.request_sign_in(session, " Ana.Perez@EXAMPLE.org ", base_url="https://x")
        session.commit()
    with fresh(engine) as session:
        assert len(mails_to(session, ANA)) == 2
        token = newest_link(session, ANA)
        assert token != invitation
        link = session.get(AuthLink, hashlib.sha256(token.encode()).hexdigest())
        assert link is not None
        assert link.purpose == "sign_in"
        lasts = link.expires_at - link.created_at
        assert abs(lasts - timedelta(minutes=15)) < timedelta(seconds=5), lasts
        signed_in = people.follow_link(session, token)
        assert signed_in.person.email == ANA
        assert signed_in.membership_id is None
        session.commit()


def test_no_sign_in_link_for_a_removed_person(
    client: TestClient, admin: str, engine: Engine
) -> None:
    make_member(engine, A, ANA)
    with fresh(engine) as session:
        people.remove_person(session, ANA, actor=None)
        session.commit()
    with fresh(engine) as session:
        sent = len(mails_to(session, ANA))
        assert people.request_sign_in(session, ANA, base_url="https://x") is False
        session.commit()
    with fresh(engine) as session:
        assert len(mails_to(session, ANA)) == sent


def test_single_sign_on_needs_a_verified_address_of_someone_invited(
    client: TestClient, admin: str, engine: Engine
) -> None:
    invite(client, admin)
    before = state(engine)
    with fresh(engine) as session:
        with pytest.raises(people.LinkRefused) as unverified:
            people.single_sign_on(session, ANA, verified=False)
        assert unverified.value.reason == "unverified"
        with pytest.raises(people.LinkRefused) as stranger:
            people.single_sign_on(session, "stranger@example.org", verified=True)
        assert stranger.value.reason == "not_invited"
        session.commit()
    assert state(engine) == before  # no account made, nobody joined
    with fresh(engine) as session:
        signed_in = people.single_sign_on(session, "ANA.PEREZ@example.org", verified=True)
        session.commit()
    assert signed_in.person.email == ANA
    with fresh(engine) as session:
        held = people.memberships(session, signed_in.person.id)
        assert [(o.acronym, m.status) for m, o in held] == [(A, "active")]


# A person's own key -------------------------------------------------------------------------


def test_a_person_key_acts_as_the_person_and_histories_name_them(
    client: TestClient, admin: str, engine: Engine
) -> None:
    ana = make_member(engine, A, ANA, name="Ana Pérez", role="coordinator", key_role="coordinator")
    assert ana.key is not None
    me = client.get(f"{API}/me", headers=auth(ana.key))
    assert me.status_code == 200, me.text
    body = me.json()
    assert (body["organization"], body["role"]) == (A, "coordinator")
    assert body["key_prefix"]
    assert ana.key.startswith(body["key_prefix"])
    assert (body["person"]["email"], body["person"]["name"]) == (ANA, "Ana Pérez")
    assert [(m["organization"], m["role"]) for m in body["person"]["memberships"]] == [
        (A, "coordinator")
    ]
    made = client.post(
        f"{API}/activities", json={**activity_body(), "provider": A}, headers=auth(ana.key)
    )
    assert made.status_code == 201, made.text
    activity_id = made.json()["activity"]["id"]
    history = client.get(f"{API}/activities/{activity_id}/history", headers=auth(admin))
    assert history.status_code == 200, history.text
    entry = history.json()["items"][0]
    assert entry["action"] == "activity.create"
    assert (entry["actor_name"], entry["actor_email"], entry["actor_organization"]) == (
        "Ana Pérez",
        ANA,
        A,
    )
    assert entry["actor_key_prefix"] == body["key_prefix"]
    # The organization's key list names the key's owner.
    keys = client.get(f"{API}/organizations/{A}/api-keys", headers=auth(admin)).json()["items"]
    assert [k["owner"] for k in keys if k["prefix"] == body["key_prefix"]] == [f"Ana Pérez <{ANA}>"]


def test_a_person_key_is_never_above_the_membership(
    client: TestClient, admin: str, engine: Engine
) -> None:
    ana = make_member(engine, A, ANA, role="coordinator", key_role="coordinator")
    assert ana.key is not None
    request = {
        "country": "TT",
        "themes": ["reporting"],
        "help_sought": "workshop",
        "language": "en",
    }
    assert client.get(f"{API}/me", headers=auth(ana.key)).json()["role"] == "coordinator"
    made = client.post(f"{API}/assistance-requests", json=request, headers=auth(ana.key))
    assert made.status_code == 201, made.text  # coordinators record requests

    lowered = client.patch(
        members_url(A, ana.membership_id), json={"role": "provider"}, headers=auth(admin)
    )
    assert lowered.status_code == 200, lowered.text
    assert client.get(f"{API}/me", headers=auth(ana.key)).json()["role"] == "provider"
    refused = client.post(f"{API}/assistance-requests", json=request, headers=auth(ana.key))
    assert refused.status_code == 403, refused.text

    # A key below the membership's role acts with the key's.
    bo = make_member(engine, A, "bo@example.org", role="coordinator", key_role="provider")
    assert bo.key is not None
    assert client.get(f"{API}/me", headers=auth(bo.key)).json()["role"] == "provider"


def test_a_key_of_someone_not_yet_joined_acts_for_no_one(
    client: TestClient, admin: str, engine: Engine
) -> None:
    waiting = make_member(engine, A, ANA, join=False, key_role="provider")
    assert waiting.key is not None
    assert client.get(f"{API}/me", headers=auth(waiting.key)).status_code == 401


def signed_in_page(client: TestClient, engine: Engine, member: Any) -> TestClient:
    """A browser with a web session of `member`, acting through their membership."""
    with fresh(engine) as session:
        token = web_auth.start(
            session, person_id=member.person_id, membership_id=member.membership_id
        )
        session.commit()
    browser = TestClient(client.app, base_url="https://testserver")
    browser.cookies.set(web_auth.COOKIE, token)
    return browser


def sessions_of(engine: Engine, member: Any) -> int:
    with fresh(engine) as session:
        return len(
            session.exec(select(WebSession).where(WebSession.person_id == member.person_id)).all()
        )


def test_removing_the_member_ends_their_key_and_session_at_once(
    client: TestClient, admin: str, engine: Engine
) -> None:
    ana = make_member(engine, A, ANA, key_role="provider")
    other = make_member(engine, B, ANA, key_role="provider")  # her membership of B stays
    assert ana.key is not None
    assert other.key is not None
    browser = signed_in_page(client, engine, ana)
    assert browser.get("/import", follow_redirects=False).status_code == 200
    assert client.get(f"{API}/me", headers=auth(ana.key)).status_code == 200

    removed = client.delete(members_url(A, ana.membership_id), headers=auth(admin))
    assert removed.status_code == 204, removed.text
    assert client.get(f"{API}/me", headers=auth(ana.key)).status_code == 401
    assert browser.get("/import", follow_redirects=False).status_code == 303
    assert sessions_of(engine, ana) == 0
    assert client.get(f"{API}/me", headers=auth(other.key)).status_code == 200
    assert [m["email"] for m in client.get(members_url(A), headers=auth(admin)).json()] == []
    assert client.delete(members_url(A, ana.membership_id), headers=auth(admin)).status_code == 404


def test_users_remove_ends_every_key_and_session(
    client: TestClient,
    admin: str,
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ana = make_member(engine, A, ANA, key_role="provider")
    other = make_member(engine, B, ANA, key_role="provider")
    assert ana.key is not None
    assert other.key is not None
    browser = signed_in_page(client, engine, ana)
    assert browser.get("/import", follow_redirects=False).status_code == 200

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    result = CliRunner().invoke(
        cli_app,
        ["users", "remove", "Ana.Perez@example.org"],
        env={"ASSISTCAL_DATABASE_URL": db_url},
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"removed {ANA}" in result.output
    for key in (ana.key, other.key):
        assert client.get(f"{API}/me", headers=auth(key)).status_code == 401
    assert browser.get("/import", follow_redirects=False).status_code == 303
    assert sessions_of(engine, ana) == 0
    with fresh(engine) as session:
        person = people.by_email(session, ANA)
        assert person is not None
        assert person.removed_at is not None
        revoked = session.exec(select(ApiKey).where(ApiKey.person_id == person.id)).all()
        assert len(revoked) == 2
        assert all(k.revoked_at is not None for k in revoked)
    again = CliRunner().invoke(
        cli_app, ["users", "remove", ANA], env={"ASSISTCAL_DATABASE_URL": db_url}
    )
    assert again.exit_code == 1
    assert "no person" in again.output


# Managers ----------------------------------------------------------------------------------


def test_a_manager_gives_no_role_above_their_own(
    client: TestClient, admin: str, engine: Engine
) -> None:
    manager = make_member(engine, A, "lead@example.org", manages=True, key_role="provider")
    assert manager.key is not None
    bo = invite(client, admin, email="bo@example.org").json()["id"]
    senior = invite(client, admin, email="cy@example.org", role="coordinator").json()["id"]

    raised = client.patch(
        members_url(A, bo), json={"role": "coordinator"}, headers=auth(manager.key)
    )
    assert raised.status_code == 403, raised.text
    invited = invite(client, manager.key, email="di@example.org", role="coordinator")
    assert invited.status_code == 403, invited.text
    above = client.patch(members_url(A, senior), json={"manages": True}, headers=auth(manager.key))
    assert above.status_code == 403, above.text
    gone = client.delete(members_url(A, senior), headers=auth(manager.key))
    assert gone.status_code == 403, gone.text

    allowed = client.patch(members_url(A, bo), json={"manages": True}, headers=auth(manager.key))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["manages"] is True
    listed = {m["email"]: m["role"] for m in client.get(members_url(A), headers=auth(admin)).json()}
    assert listed == {
        "lead@example.org": "provider",
        "bo@example.org": "provider",
        "cy@example.org": "coordinator",
    }


# Validation --------------------------------------------------------------------------------


def fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [d["field"] for d in answer.json()["error"]["details"]]


def test_bad_invitations_and_changes_name_the_field(
    client: TestClient, admin: str, engine: Engine
) -> None:
    assert "email" in fields(invite(client, admin, email="not-an-address"))
    assert "role" in fields(invite(client, admin, role="owner"))
    assert "nickname" in fields(invite(client, admin, nickname="Ana"))
    assert "language" in fields(invite(client, admin, language="xx"))
    member = invite(client, admin).json()["id"]
    assert "role" in fields(
        client.patch(members_url(A, member), json={"role": "chief"}, headers=auth(admin))
    )
    assert "colour" in fields(
        client.patch(members_url(A, member), json={"colour": "red"}, headers=auth(admin))
    )
    with fresh(engine) as session:
        assert len(session.exec(select(Person)).all()) == 1
        assert len(mails_to(session, ANA)) == 1
