import re
import uuid
from typing import Annotated

from fastapi import Depends, Header

from app.activities import queries
from app.activities.models import Activity, ActivityPublic
from app.api.caller import OptionalPrincipal
from app.db.session import SessionDep
from app.errors import FieldError, PreconditionFailed, ValidationFailed

_REVISION_TAG = re.compile(r'^"?(\d{1,9})"?$')


def etag(activity: Activity | ActivityPublic) -> str:
    return f'"{activity.revision}"'


def load_activity(
    activity_id: uuid.UUID, session: SessionDep, viewer: OptionalPrincipal
) -> Activity:
    return queries.get(session, activity_id, viewer=viewer)


ActivityDep = Annotated[Activity, Depends(load_activity)]


async def if_match_revision(
    if_match: Annotated[
        str | None,
        Header(
            max_length=100,
            description='The ETag (revision) you last read, e.g. "3"; a stale one gives 412.',
        ),
    ] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    if if_match.strip().startswith("W/"):
        # If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches.
        raise PreconditionFailed(
            'If-Match needs the strong ETag this service sent, such as "3"',
            details=[FieldError("If-Match", "a weak ETag never matches")],
        )
    found = _REVISION_TAG.match(if_match.strip())
    if found is None:
        raise ValidationFailed(
            'If-Match must be an ETag this service sent, such as "3"',
            details=[FieldError("If-Match", 'expected an ETag such as "3"')],
        )
    return int(found.group(1))


IfMatchDep = Annotated[int | None, Depends(if_match_revision)]
