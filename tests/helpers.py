"""Small helpers shared by the tests."""

import re
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.mail.models import OutboxMail
from app.tables import metadata


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(client: Any, key: str, **fields: Any) -> dict[str, Any]:
    """POST /activities with activity_body(**fields); the activity, with its `findings`."""
    answer = client.post("/api/v1/activities", json=activity_body(**fields), headers=auth(key))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return {**body["activity"], "findings": body["findings"]}


def record_request(client: Any, key: str, **overrides: Any) -> dict[str, Any]:
    """POST /assistance-requests: Trinidad and Tobago asks for a workshop on export control
    (`overrides` change it); the request as recorded."""
    body = {
        "country": "TT",
        "themes": ["export_control"],
        "help_sought": "workshop",
        "language": "en",
        **overrides,
    }
    answer = client.post("/api/v1/assistance-requests", json=body, headers=auth(key))
    assert answer.status_code == 201, answer.text
    recorded: dict[str, Any] = answer.json()
    return recorded


def activity_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "National workshop on 1540 implementation",
        "language": "en",
        "activity_type": "workshop",
        "themes": ["national_action_plan"],
        "start_date": "2025-03-10",
        "end_date": "2025-03-12",
        "countries": ["TT"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def unique(prefix: str = "X") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }


# People --------------------------------------------------------------------------------

LINK = re.compile(r"/auth/link/([A-Za-z0-9_-]+)")


def mails_to(session: Session, address: str) -> list[OutboxMail]:
    """The mails queued for `address`, newest first."""
    return list(
        session.exec(
            select(OutboxMail)
            .where(OutboxMail.to_address == address)
            .order_by(col(OutboxMail.created_at).desc())
        )
    )


def newest_link(session: Session, address: str) -> str:
    """The token of the link in the newest mail to `address`."""
    found = mails_to(session, address)
    assert found, f"no mail to {address}"
    match = LINK.search(found[0].text_body)
    assert match is not None, found[0].text_body
    return match.group(1)


@dataclass
class Member:
    person_id: uuid.UUID
    membership_id: uuid.UUID
    key: str | None


def make_member(
    engine: Engine,
    acronym: str,
    email: str,
    *,
    role: str = "provider",
    manages: bool = False,
    name: str | None = None,
    key_role: str | None = None,
    join: bool = True,
) -> Member:
    """`email` invited to `acronym` (made if new) by the operator; with `join`, the person
    follows the invitation's link; with `key_role`, they get a key of their own there."""
    from app.auth import people
    from app.auth import service as keys_service
    from app.auth.models import MemberIn
    from app.db.engine import open_session
    from app.organizations import service as organizations

    with open_session(engine, write=True) as session:
        organization = organizations.ensure(session, acronym=acronym, name=f"{acronym} (test)")
        data = MemberIn.model_validate(
            {"email": email, "role": role, "manages": manages, "name": name}
        )
        member = people.invite(
            session, organization, data, actor=None, base_url="https://testserver"
        )
        person = people.by_email(session, email)
        assert person is not None
        if join:
            people.follow_link(session, newest_link(session, person.email))
        key = None
        if key_role is not None:
            key = keys_service.create(
                session,
                organization=organization,
                role=key_role,
                actor=None,
                person_id=person.id,
            ).key
        session.commit()
        return Member(person.id, member.id, key)


def activity_form(**overrides: Any) -> dict[str, Any]:
    """The activity form's fields for activity_body(**overrides) (lists as repeated fields)."""
    body = activity_body(**overrides)
    venue = body.pop("venue", None) or {}
    form = {
        **{k: v for k, v in body.items() if k not in ("partners",)},
        "partners": "\n".join(body.get("partners", [])),
        "venue_city": venue.get("city", ""),
        "venue_country": venue.get("country", ""),
        "modality": venue.get("modality", ""),
    }
    return form
