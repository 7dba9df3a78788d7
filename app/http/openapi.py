"""What the OpenAPI description tells a client beyond the routes themselves: operation ids a
generated client can use as method names, and a description for each tag.

An operation's id is its endpoint function's name (`create_activity`, not FastAPI's default
`create_activity_api_v1_activities_post`), so every API route's function is named as a
client method: a verb, then what it acts on, unique across the service.
tests/api/test_openapi.py checks both."""

from typing import Any

from fastapi.routing import APIRoute


def operation_id(route: APIRoute) -> str:
    """The route's name: its function's, unless the route was given another."""
    return route.name


TAGS: list[dict[str, Any]] = [
    {
        "name": "activities",
        "description": "The calendar's records: planned, changed and withdrawn assistance "
        "activities, with their history and the findings each change raises.",
    },
    {
        "name": "findings",
        "description": "Possible duplicates, overlaps and clashes between two activities, "
        "with the reasons behind their score, and the coordinators' decisions on them.",
    },
    {
        "name": "feeds",
        "description": "iCalendar feeds (`/feeds/...`, no key) by State, region, provider, "
        "theme or filter, and the tokens of private feeds.",
    },
    {
        "name": "imports",
        "description": "Activities from a CSV, XLSX, iCalendar or IATI file, with a dry run.",
    },
    {
        "name": "exports",
        "description": "Every activity that matches the list's filters, as CSV, XLSX or IATI XML.",
    },
    {
        "name": "reports",
        "description": "The coverage matrix: what is planned for each State of a region, "
        "and the gaps.",
    },
    {
        "name": "assistance requests",
        "description": "States' requests for assistance, their progress, the activities "
        "that answer them and the providers that fit them best.",
    },
    {
        "name": "organizations",
        "description": "Providers and other organizations, their profiles (what they offer) "
        "and their API keys.",
    },
    {
        "name": "people",
        "description": "The people of an organization: invitations by e-mail, roles, and "
        "removal (their sessions and keys end at once).",
    },
    {
        "name": "api keys",
        "description": "The key a request is made with, and revoking keys.",
    },
    {
        "name": "webhooks",
        "description": "Signed HTTP callbacks on activity, finding and request events, and "
        "the log of their deliveries.",
    },
    {
        "name": "operations",
        "description": "Liveness, readiness and Prometheus metrics, for the people who run "
        "the service.",
    },
]
