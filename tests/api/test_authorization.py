"""The authorization matrix: every route of the app, called by an anonymous reader, a provider
of organization A (owner of the resources at stake), a provider of organization B, a
coordinator and an admin, with the status each must get.  A route missing from MATRIX fails
the first test, so a new route cannot be forgotten.

Resources are A's: a public and a restricted activity, a finding between two of A's
activities, a feed token, a webhook; and an assistance request just received (so not yet
circulated to providers).  Writes that would use a resource up get a fresh one per call."""

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.main import create_app
from tests.conftest import KeyMaker
from tests.helpers import activity_body, activity_form, make_member

ROLES = ("anon", "a", "b", "coord", "admin")
API = "/api/v1"
A, B = "UNLIREC", "OPCW"

# route -> status for (anon, provider A, provider B, coordinator, admin)
MATRIX: dict[tuple[str, str], tuple[int, int, int, int, int]] = {
    ("GET", "/openapi.json"): (200, 200, 200, 200, 200),
    ("GET", "/docs"): (200, 200, 200, 200, 200),
    ("MOUNT", "/static/docs"): (200, 200, 200, 200, 200),
    ("GET", "/favicon.ico"): (200, 200, 200, 200, 200),
    ("POST", "/api/v1/organizations"): (401, 403, 403, 403, 201),
    ("GET", "/api/v1/organizations"): (401, 200, 200, 200, 200),
    ("GET", "/api/v1/organizations/{acronym}"): (401, 200, 200, 200, 200),
    ("PATCH", "/api/v1/organizations/{acronym}"): (401, 403, 403, 403, 200),
    ("POST", "/api/v1/organizations/{acronym}/api-keys"): (401, 403, 403, 403, 201),
    ("GET", "/api/v1/organizations/{acronym}/api-keys"): (401, 403, 403, 403, 200),
    ("GET", "/api/v1/organizations/{acronym}/profile"): (401, 200, 200, 200, 200),
    ("PUT", "/api/v1/organizations/{acronym}/profile"): (401, 200, 403, 403, 200),
    ("DELETE", "/api/v1/api-keys/{key_id}"): (401, 403, 403, 403, 200),
    ("POST", "/api/v1/organizations/{acronym}/members"): (401, 403, 403, 403, 201),
    ("GET", "/api/v1/organizations/{acronym}/members"): (401, 403, 403, 403, 200),
    ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}"): (401, 403, 403, 403, 200),
    ("DELETE", "/api/v1/organizations/{acronym}/members/{member_id}"): (401, 403, 403, 403, 204),
    ("GET", "/api/v1/me"): (401, 200, 200, 200, 200),
    ("POST", "/api/v1/activities"): (401, 201, 403, 201, 201),
    ("GET", "/api/v1/activities"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/activities/{activity_id}"): (404, 200, 200, 200, 200),
    ("PATCH", "/api/v1/activities/{activity_id}"): (401, 200, 403, 200, 200),
    ("DELETE", "/api/v1/activities/{activity_id}"): (401, 200, 403, 200, 200),
    ("GET", "/api/v1/activities/{activity_id}/history"): (404, 200, 200, 200, 200),
    ("GET", "/api/v1/findings"): (401, 200, 200, 200, 200),
    ("GET", "/api/v1/findings/{finding_id}"): (401, 200, 404, 200, 200),
    ("POST", "/api/v1/findings/{finding_id}/decision"): (401, 403, 404, 200, 200),
    ("POST", "/api/v1/feed-tokens"): (401, 201, 201, 201, 201),
    ("GET", "/api/v1/feed-tokens"): (401, 200, 200, 200, 200),
    ("DELETE", "/api/v1/feed-tokens/{token_id}"): (401, 200, 404, 404, 200),
    ("GET", "/api/v1/feeds/links"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/exports/activities.csv"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/exports/activities.xlsx"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/exports/activities.iati.xml"): (200, 200, 200, 200, 200),
    ("GET", "/api/v1/exports/iati-themes"): (200, 200, 200, 200, 200),
    ("POST", "/api/v1/imports"): (401, 200, 422, 200, 200),
    ("GET", "/api/v1/reports/coverage"): (401, 200, 200, 200, 200),
    ("POST", "/api/v1/assistance-requests"): (401, 403, 403, 201, 201),
    ("GET", "/api/v1/assistance-requests"): (401, 200, 200, 200, 200),
    ("GET", "/api/v1/assistance-requests/{request_id}"): (401, 404, 404, 200, 200),
    ("PATCH", "/api/v1/assistance-requests/{request_id}"): (401, 404, 404, 200, 200),
    ("POST", "/api/v1/assistance-requests/{request_id}/activities"): (401, 200, 403, 200, 200),
    (
        "DELETE",
        "/api/v1/assistance-requests/{request_id}/activities/{activity_id}",
    ): (401, 204, 403, 204, 204),
    ("GET", "/api/v1/assistance-requests/{request_id}/matches"): (401, 404, 404, 200, 200),
    ("POST", "/api/v1/webhooks"): (401, 201, 201, 201, 201),
    ("GET", "/api/v1/webhooks"): (401, 200, 200, 200, 200),
    ("GET", "/api/v1/webhooks/{webhook_id}"): (401, 200, 404, 404, 200),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): (401, 204, 404, 404, 204),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): (401, 200, 404, 404, 200),
    ("GET", "/feeds/all.ics"): (200, 200, 200, 200, 200),
    ("GET", "/feeds/countries/{code}.ics"): (200, 200, 200, 200, 200),
    ("GET", "/feeds/regions/{m49}.ics"): (200, 200, 200, 200, 200),
    ("GET", "/feeds/providers/{acronym}.ics"): (200, 200, 200, 200, 200),
    ("GET", "/feeds/themes/{theme}.ics"): (200, 200, 200, 200, 200),
    ("GET", "/feeds/calendar.ics"): (200, 200, 200, 200, 200),
    ("GET", "/feeds/private/{token}.ics"): (200, 200, 200, 200, 200),
    ("GET", "/"): (200, 200, 200, 200, 200),
    ("GET", "/language"): (303, 303, 303, 303, 303),
    ("GET", "/sign-in"): (200, 200, 200, 200, 200),
    ("POST", "/sign-in"): (303, 303, 303, 303, 303),
    ("POST", "/sign-out"): (303, 303, 303, 303, 303),
    ("POST", "/sign-in/email"): (200, 200, 200, 200, 200),
    ("GET", "/auth/link/{token}"): (404, 404, 404, 404, 404),
    ("POST", "/auth/link/{token}"): (404, 404, 404, 404, 404),
    ("GET", "/auth/oidc/start"): (404, 404, 404, 404, 404),  # single sign-on not configured
    ("GET", "/auth/oidc/callback"): (404, 404, 404, 404, 404),
    # The account pages are for people; keys signed in get a 403 that says so.
    ("GET", "/account"): (303, 403, 403, 403, 403),
    ("POST", "/account"): (303, 403, 403, 403, 403),
    ("POST", "/account/acting-for"): (303, 403, 403, 403, 403),
    ("POST", "/account/keys"): (303, 403, 403, 403, 403),
    ("POST", "/account/notices"): (303, 403, 403, 403, 403),
    # A one-click unsubscribe link is its own authority: a made-up one is a 404 for anyone.
    ("GET", "/unsubscribe/{person_id}/{kinds}/{signature}"): (404, 404, 404, 404, 404),
    ("POST", "/unsubscribe/{person_id}/{kinds}/{signature}"): (404, 404, 404, 404, 404),
    ("POST", "/keys/{key_id}/revoke"): (303, 403, 403, 403, 303),
    ("GET", "/organizations/{acronym}/members"): (303, 403, 403, 403, 200),
    ("POST", "/organizations/{acronym}/members"): (303, 403, 403, 403, 303),
    ("POST", "/organizations/{acronym}/members/{member_id}"): (303, 403, 403, 403, 303),
    ("POST", "/organizations/{acronym}/members/{member_id}/remove"): (303, 403, 403, 403, 303),
    ("GET", "/calendar"): (200, 200, 200, 200, 200),
    ("GET", "/our/activities"): (303, 200, 200, 200, 200),
    ("GET", "/our/warnings"): (303, 200, 200, 200, 200),
    ("GET", "/calendar.csv"): (200, 200, 200, 200, 200),
    ("GET", "/calendar.xlsx"): (200, 200, 200, 200, 200),
    ("GET", "/calendar.pdf"): (200, 200, 200, 200, 200),
    ("GET", "/activity/{activity_id}"): (404, 200, 200, 200, 200),
    ("GET", "/activities/new"): (303, 200, 200, 200, 200),
    ("POST", "/activities/new"): (303, 303, 403, 303, 303),
    ("GET", "/activity/{activity_id}/edit"): (303, 200, 403, 200, 200),
    ("POST", "/activity/{activity_id}/edit"): (303, 303, 403, 303, 303),
    ("GET", "/activity/{activity_id}/withdraw"): (303, 200, 403, 200, 200),
    ("POST", "/activity/{activity_id}/withdraw"): (303, 303, 403, 303, 303),
    ("GET", "/review"): (303, 403, 403, 200, 200),
    ("POST", "/review/{finding_id}"): (303, 403, 403, 303, 303),
    ("GET", "/coverage"): (303, 200, 200, 200, 200),
    ("GET", "/coverage.csv"): (303, 200, 200, 200, 200),
    ("GET", "/import"): (303, 200, 200, 200, 200),
    ("POST", "/import"): (303, 200, 200, 200, 200),
    ("GET", "/subscribe"): (200, 200, 200, 200, 200),
    ("GET", "/requests"): (303, 200, 200, 200, 200),
    ("GET", "/requests/new"): (303, 403, 403, 200, 200),
    ("POST", "/requests/new"): (303, 403, 403, 303, 303),
    ("GET", "/requests/{request_id}"): (303, 404, 404, 200, 200),  # received: not circulated
    ("POST", "/requests/{request_id}/status"): (303, 404, 404, 303, 303),
    ("POST", "/requests/{request_id}/activities"): (303, 303, 403, 303, 303),
    ("POST", "/requests/{request_id}/activities/{activity_id}/remove"): (303, 303, 403, 303, 303),
    ("GET", "/organizations"): (303, 200, 200, 200, 200),
    ("GET", "/organizations/{acronym}"): (303, 200, 200, 200, 200),
    ("GET", "/organizations/{acronym}/profile"): (303, 200, 403, 403, 200),
    ("POST", "/organizations/{acronym}/profile"): (303, 303, 403, 403, 303),
    ("POST", "/subscribe/feeds"): (303, 201, 201, 201, 201),
    ("POST", "/subscribe/feeds/{token_id}/revoke"): (303, 303, 404, 404, 303),
    ("MOUNT", "/static"): (200, 200, 200, 200, 200),
    ("GET", "/healthz"): (200, 200, 200, 200, 200),
    ("GET", "/readyz"): (200, 200, 200, 200, 200),
    ("GET", "/metrics"): (200, 200, 200, 200, 200),
}


def routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            contexts = route.effective_route_contexts()
            found |= {(m, c.path) for c in contexts for m in c.methods - {"HEAD"}}
        elif getattr(route, "methods", None):
            found |= {(m, route.path) for m in route.methods - {"HEAD"}}
        else:
            found.add(("MOUNT", route.path))
    return found


@dataclass
class World:
    api: TestClient
    keys: dict[str, str]
    pages: dict[str, TestClient]
    csrf: dict[str, str]
    made: dict[str, Any] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {} if role == "anon" else {"Authorization": f"Bearer {self.keys[role]}"}

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def activity(self, **fields: Any) -> str:
        body = activity_body(external_ref=uuid.uuid4().hex, **fields)
        answer = self.api.post(f"{API}/activities", json=body, headers=self.as_("a"))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["activity"]["id"])

    def finding(self) -> str:
        title = f"National workshop on export control {uuid.uuid4().hex[:4]}"
        first = self.activity(title=title, countries=["BB"])
        second_body = activity_body(
            title=title, countries=["BB"], language="es", external_ref=uuid.uuid4().hex
        )
        answer = self.api.post(f"{API}/activities", json=second_body, headers=self.as_("a"))
        found = [f for f in answer.json()["findings"] if first in f["activity_ids"]]
        assert found, answer.text
        return str(found[0]["id"])

    def request(self, status: str = "received") -> str:
        body = {
            "country": "TT",
            "themes": ["export_control"],
            "help_sought": "workshop",
            "language": "en",
        }
        made = self.api.post(f"{API}/assistance-requests", json=body, headers=self.as_("coord"))
        request_id = str(made.json()["id"])
        if status != "received":
            self.api.patch(
                f"{API}/assistance-requests/{request_id}",
                json={"status": status},
                headers=self.as_("coord"),
            )
        return request_id


@pytest.fixture
def world(settings: Settings, make_key: KeyMaker) -> Iterator[World]:
    keys = {
        "a": make_key(A, "provider"),
        "b": make_key(B, "provider"),
        "coord": make_key("OAS-CICTE", "coordinator"),
        "admin": make_key("ASSISTCAL", "admin"),
    }
    loose = settings.model_copy(
        update={
            "rate_limit_per_key": 0,
            "rate_limit_per_address": 0,
            "public_url": "https://testserver",  # links sent by e-mail are made from it
        }
    )
    with TestClient(create_app(loose), base_url="https://testserver") as api:
        pages: dict[str, TestClient] = {}
        csrf: dict[str, str] = {}
        for role in ROLES:
            page = TestClient(api.app, base_url="https://testserver")
            form = page.get("/sign-in").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token is not None
            if role != "anon":
                page.post("/sign-in", data={"key": keys[role], "csrf": token.group(1)})
                token = re.search(r'name="csrf" value="([^"]+)"', page.get("/").text)
                assert token is not None
            pages[role], csrf[role] = page, token.group(1)
        world = World(api, keys, pages, csrf)
        world.made["public"] = world.activity(title="Open seminar", countries=["TT"])
        world.made["restricted"] = world.activity(
            title="Restricted visit", countries=["TT"], visibility="restricted"
        )
        world.made["finding"] = world.finding()
        token = api.post(
            f"{API}/feed-tokens", json={"label": "desk", "filters": {}}, headers=world.as_("a")
        ).json()
        world.made["feed_token"] = token["token"]
        world.made["webhook"] = api.post(
            f"{API}/webhooks",
            json={
                "url": "https://receiver.example/h",
                "events": ["activity.created"],
                "secret": "s" * 20,
            },
            headers=world.as_("a"),
        ).json()["id"]
        world.made["request"] = world.request()
        yield world


def call(world: World, role: str, method: str, path: str) -> httpx.Response:
    """One request of `role` to the route, with the resources and a body it needs."""
    made, api, h = world.made, world.api, world.headers(role)
    page = world.pages[role]
    csrf = world.csrf[role]
    restricted, public = made["restricted"], made["public"]
    fresh_key = lambda: api.post(  # noqa: E731
        f"{API}/organizations/{A}/api-keys", json={"role": "provider"}, headers=world.as_("admin")
    ).json()["id"]

    def fresh_member() -> str:
        return str(
            api.post(
                f"{API}/organizations/{A}/members",
                json={"email": f"{uuid.uuid4().hex[:8]}@example.org", "role": "provider"},
                headers=world.as_("admin"),
            ).json()["id"]
        )

    concrete: dict[tuple[str, str], Callable[[], httpx.Response]] = {
        ("POST", "/api/v1/organizations/{acronym}/members"): lambda: api.post(
            f"{API}/organizations/{A}/members",
            json={"email": f"{uuid.uuid4().hex[:8]}@example.org", "role": "provider"},
            headers=h,
        ),
        ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}"): lambda: api.patch(
            f"{API}/organizations/{A}/members/{fresh_member()}",
            json={"role": "coordinator"},
            headers=h,
        ),
        ("DELETE", "/api/v1/organizations/{acronym}/members/{member_id}"): lambda: api.delete(
            f"{API}/organizations/{A}/members/{fresh_member()}", headers=h
        ),
        ("POST", "/api/v1/organizations"): lambda: api.post(
            f"{API}/organizations",
            json={"acronym": f"ORG{uuid.uuid4().hex[:6]}".upper(), "name": "New"},
            headers=h,
        ),
        ("PATCH", "/api/v1/organizations/{acronym}"): lambda: api.patch(
            f"{API}/organizations/{A}", json={"name": "UN Regional Centre"}, headers=h
        ),
        ("POST", "/api/v1/organizations/{acronym}/api-keys"): lambda: api.post(
            f"{API}/organizations/{A}/api-keys", json={"role": "provider"}, headers=h
        ),
        ("PUT", "/api/v1/organizations/{acronym}/profile"): lambda: api.put(
            f"{API}/organizations/{A}/profile", json={"themes": ["reporting"]}, headers=h
        ),
        ("DELETE", "/api/v1/api-keys/{key_id}"): lambda: api.delete(
            f"{API}/api-keys/{fresh_key()}", headers=h
        ),
        ("POST", "/api/v1/activities"): lambda: api.post(
            f"{API}/activities",
            json={**activity_body(external_ref=uuid.uuid4().hex), "provider": A},
            headers=h,
        ),
        ("PATCH", "/api/v1/activities/{activity_id}"): lambda: api.patch(
            f"{API}/activities/{public}", json={"description": role}, headers=h
        ),
        ("DELETE", "/api/v1/activities/{activity_id}"): lambda: api.delete(
            f"{API}/activities/{world.activity()}", headers=h
        ),
        ("POST", "/api/v1/findings/{finding_id}/decision"): lambda: api.post(
            f"{API}/findings/{world.finding()}/decision", json={"decision": "dismiss"}, headers=h
        ),
        ("POST", "/api/v1/feed-tokens"): lambda: api.post(
            f"{API}/feed-tokens", json={"label": "x", "filters": {}}, headers=h
        ),
        ("DELETE", "/api/v1/feed-tokens/{token_id}"): lambda: api.delete(
            f"{API}/feed-tokens/"
            + api.post(
                f"{API}/feed-tokens", json={"label": "x", "filters": {}}, headers=world.as_("a")
            ).json()["id"],
            headers=h,
        ),
        ("POST", "/api/v1/imports"): lambda: api.post(
            f"{API}/imports",
            files={
                "file": (
                    "a.csv",
                    f"title,provider,start,countries,themes\nT{uuid.uuid4().hex},{A},2025-01-01,TT,reporting\n".encode(),
                )
            },
            headers=h,
        ),
        ("POST", "/api/v1/assistance-requests"): lambda: api.post(
            f"{API}/assistance-requests",
            json={
                "country": "TT",
                "themes": ["reporting"],
                "help_sought": "workshop",
                "language": "en",
            },
            headers=h,
        ),
        ("PATCH", "/api/v1/assistance-requests/{request_id}"): lambda: api.patch(
            f"{API}/assistance-requests/{world.request()}",
            json={"status": "acknowledged"},
            headers=h,
        ),
        ("POST", "/api/v1/assistance-requests/{request_id}/activities"): lambda: api.post(
            f"{API}/assistance-requests/{world.request('circulated')}/activities",
            json={"activity_id": public},
            headers=h,
        ),
        (
            "DELETE",
            "/api/v1/assistance-requests/{request_id}/activities/{activity_id}",
        ): lambda: _unlink(world, h),
        ("POST", "/api/v1/webhooks"): lambda: api.post(
            f"{API}/webhooks",
            json={"url": "https://r.example/h", "events": ["activity.created"], "secret": "s" * 20},
            headers=h,
        ),
        ("DELETE", "/api/v1/webhooks/{webhook_id}"): lambda: api.delete(
            f"{API}/webhooks/"
            + api.post(
                f"{API}/webhooks",
                json={
                    "url": "https://r.example/h",
                    "events": ["activity.created"],
                    "secret": "s" * 20,
                },
                headers=world.as_("a"),
            ).json()["id"],
            headers=h,
        ),
        ("GET", "/language"): lambda: page.get("/language?to=es", follow_redirects=False),
        ("POST", "/sign-in"): lambda: _sign_in(world, role),
        ("POST", "/sign-out"): lambda: _sign_out(world, role),
        ("POST", "/review/{finding_id}"): lambda: page.post(
            f"/review/{world.finding()}",
            data={"decision": "dismiss", "csrf": csrf},
            follow_redirects=False,
        ),
        ("POST", "/import"): lambda: page.post(
            "/import",
            data={"csrf": csrf},
            files={"file": ("a.csv", b"title,start,countries,themes\nT,2025-01-01,TT,reporting\n")},
            follow_redirects=False,
        ),
        ("POST", "/sign-in/email"): lambda: page.post(
            "/sign-in/email",
            data={"email": f"{role}-{uuid.uuid4().hex[:6]}@example.org", "csrf": csrf},
            follow_redirects=False,
        ),
        ("POST", "/auth/link/{token}"): lambda: page.post(
            "/auth/link/" + "x" * 43, data={"csrf": csrf}, follow_redirects=False
        ),
        ("POST", "/account"): lambda: page.post(
            "/account", data={"csrf": csrf, "name": "N", "language": "en"}, follow_redirects=False
        ),
        ("POST", "/account/acting-for"): lambda: page.post(
            "/account/acting-for",
            data={"csrf": csrf, "membership": str(uuid.uuid4())},
            follow_redirects=False,
        ),
        ("POST", "/account/keys"): lambda: page.post(
            "/account/keys", data={"csrf": csrf, "role": "provider"}, follow_redirects=False
        ),
        ("POST", "/account/notices"): lambda: page.post(
            "/account/notices",
            data={"csrf": csrf, "notice": ["findings"], "digest": "off"},
            follow_redirects=False,
        ),
        ("GET", "/unsubscribe/{person_id}/{kinds}/{signature}"): lambda: page.get(
            f"/unsubscribe/{uuid.uuid4()}/findings/{'x' * 43}"
        ),
        ("POST", "/unsubscribe/{person_id}/{kinds}/{signature}"): lambda: page.post(
            f"/unsubscribe/{uuid.uuid4()}/findings/{'x' * 43}"
        ),
        ("POST", "/keys/{key_id}/revoke"): lambda: page.post(
            f"/keys/{fresh_key()}/revoke", data={"csrf": csrf}, follow_redirects=False
        ),
        ("POST", "/organizations/{acronym}/members"): lambda: page.post(
            f"/organizations/{A}/members",
            data={"csrf": csrf, "email": f"{uuid.uuid4().hex[:8]}@example.org", "role": "provider"},
            follow_redirects=False,
        ),
        ("POST", "/organizations/{acronym}/members/{member_id}"): lambda: page.post(
            f"/organizations/{A}/members/{fresh_member()}",
            data={"csrf": csrf, "role": "coordinator"},
            follow_redirects=False,
        ),
        ("POST", "/organizations/{acronym}/members/{member_id}/remove"): lambda: page.post(
            f"/organizations/{A}/members/{fresh_member()}/remove",
            data={"csrf": csrf},
            follow_redirects=False,
        ),
        ("POST", "/activities/new"): lambda: page.post(
            "/activities/new",
            data={
                "csrf": csrf,
                "action": "save",
                "provider": A,
                **activity_form(external_ref=uuid.uuid4().hex),
            },
            follow_redirects=False,
        ),
        ("POST", "/activity/{activity_id}/edit"): lambda: page.post(
            f"/activity/{world.activity()}/edit",
            data={"csrf": csrf, "revision": "1", "action": "save", **activity_form(title=role)},
            follow_redirects=False,
        ),
        ("POST", "/activity/{activity_id}/withdraw"): lambda: page.post(
            f"/activity/{world.activity()}/withdraw",
            data={"csrf": csrf, "revision": "1", "reason": "cancelled by the host"},
            follow_redirects=False,
        ),
        ("POST", "/requests/new"): lambda: page.post(
            "/requests/new",
            data={
                "csrf": csrf,
                "country": "TT",
                "themes": "reporting",
                "help_sought": "workshop",
                "language": "en",
            },
            follow_redirects=False,
        ),
        ("POST", "/requests/{request_id}/status"): lambda: page.post(
            f"/requests/{world.request()}/status",
            data={"csrf": csrf, "status": "acknowledged"},
            follow_redirects=False,
        ),
        ("POST", "/requests/{request_id}/activities"): lambda: page.post(
            f"/requests/{world.request('circulated')}/activities",
            data={"csrf": csrf, "activity_id": public},
            follow_redirects=False,
        ),
        ("POST", "/requests/{request_id}/activities/{activity_id}/remove"): lambda: _unlink_page(
            world, page, csrf
        ),
        ("POST", "/organizations/{acronym}/profile"): lambda: page.post(
            f"/organizations/{A}/profile",
            data={"csrf": csrf, "themes": "reporting"},
            follow_redirects=False,
        ),
        ("POST", "/subscribe/feeds"): lambda: page.post(
            "/subscribe/feeds",
            data={"csrf": csrf, "label": "desk", "country": "TT"},
            follow_redirects=False,
        ),
        ("POST", "/subscribe/feeds/{token_id}/revoke"): lambda: page.post(
            "/subscribe/feeds/"
            + api.post(
                f"{API}/feed-tokens", json={"label": "x", "filters": {}}, headers=world.as_("a")
            ).json()["id"]
            + "/revoke",
            data={"csrf": csrf},
            follow_redirects=False,
        ),
        ("MOUNT", "/static"): lambda: page.get("/static/app.css"),
        ("MOUNT", "/static/docs"): lambda: page.get("/static/docs/swagger-ui.css"),
    }
    if (method, path) in concrete:
        return concrete[method, path]()
    url = (
        path.replace("{acronym}", A)
        .replace("{activity_id}", restricted)
        .replace("{finding_id}", made["finding"])
        .replace("{request_id}", made["request"])
        .replace("{webhook_id}", made["webhook"])
        .replace("{code}", "TT")
        .replace("{m49}", "029")
        .replace("{theme}", "reporting")
        .replace("{token}", made["feed_token"])
    )
    client = api if path.startswith(("/api/", "/feeds/", "/docs", "/openapi")) else page
    return client.request(method, url, headers=h if client is api else {}, follow_redirects=False)


def _unlink(world: World, headers: dict[str, str]) -> httpx.Response:
    request_id = world.request("circulated")
    linked = world.api.post(
        f"{API}/assistance-requests/{request_id}/activities",
        json={"activity_id": world.made["public"]},
        headers=world.as_("coord"),
    )
    assert linked.status_code == 200, linked.text
    return world.api.delete(
        f"{API}/assistance-requests/{request_id}/activities/{world.made['public']}",
        headers=headers,
    )


def _unlink_page(world: World, page: TestClient, csrf: str) -> httpx.Response:
    request_id = world.request("circulated")
    linked = world.api.post(
        f"{API}/assistance-requests/{request_id}/activities",
        json={"activity_id": world.made["public"]},
        headers=world.as_("coord"),
    )
    assert linked.status_code == 200, linked.text
    return page.post(
        f"/requests/{request_id}/activities/{world.made['public']}/remove",
        data={"csrf": csrf},
        follow_redirects=False,
    )


def _sign_in(world: World, role: str) -> httpx.Response:
    """Anyone may sign in with a key (the anonymous reader with A's)."""
    client = TestClient(world.api.app, base_url="https://testserver")
    client.cookies.set("assistcal_csrf", "c" * 24)
    key = world.keys.get(role, world.keys["a"])
    return client.post("/sign-in", data={"key": key, "csrf": "c" * 24}, follow_redirects=False)


def _sign_out(world: World, role: str) -> httpx.Response:
    """Signing out of a session of its own (the role's shared one stays)."""
    client = TestClient(world.api.app, base_url="https://testserver")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    csrf = token.group(1)
    if role != "anon":
        client.post("/sign-in", data={"key": world.keys[role], "csrf": csrf})
        found = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
        assert found is not None
        csrf = found.group(1)
    return client.post("/sign-out", data={"csrf": csrf}, follow_redirects=False)


def test_the_matrix_names_every_route(settings: Settings) -> None:
    app = create_app(settings)
    assert routes(app) == set(MATRIX), (
        f"missing: {sorted(routes(app) - set(MATRIX))}; gone: {sorted(set(MATRIX) - routes(app))}"
    )


def test_each_role_gets_what_the_matrix_says(world: World) -> None:
    wrong = []
    for (method, path), expected in MATRIX.items():
        for role, status in zip(ROLES, expected, strict=True):
            got = call(world, role, method, path).status_code
            if got != status:
                wrong.append(f"{method} {path} as {role}: {got}, expected {status}")
    assert wrong == [], "\n".join(wrong)


def test_listings_do_not_show_what_a_direct_read_refuses(world: World) -> None:
    api = world.api
    restricted = world.made["restricted"]
    anonymous = api.get(f"{API}/activities").text + api.get("/feeds/all.ics").text
    anonymous += api.get(f"{API}/exports/activities.csv").text
    anonymous += world.pages["anon"].get("/calendar?view=list&from=2025-01-01&to=2025-12-31").text
    anonymous += world.pages["anon"].get("/calendar.csv?from=2025-01-01&to=2025-12-31").text
    assert restricted not in anonymous
    assert "Restricted visit" not in anonymous
    for role in ("a", "b", "coord"):
        listed = api.get(f"{API}/activities", headers=world.as_(role)).text
        assert restricted in listed, role  # every key reads restricted activities
    b_findings = api.get(f"{API}/findings", headers=world.as_("b")).json()["items"]
    assert b_findings == []  # B's key sees no finding of A's activities
    b_requests = api.get(f"{API}/assistance-requests", headers=world.as_("b")).json()["items"]
    assert b_requests == []  # nor a request not yet circulated
    b_hooks = api.get(f"{API}/webhooks", headers=world.as_("b")).json()["items"]
    assert world.made["webhook"] not in str(b_hooks)


# People and keys: who manages which organization ----------------------------------------------
#
# A second, smaller matrix for the routes of members and keys, with people among the callers:
# mgr_a is a provider of A who manages A, mgr_b the same for B, each acting through a key of
# their own (made by the keys service with person_id).  A manager changes their own
# organization's members and keys, never above their own role; nothing of another's.

PEOPLE_ROLES = ("anon", "a", "mgr_a", "mgr_b", "coord", "admin")

PEOPLE_ROUTES = {
    ("POST", "/api/v1/organizations/{acronym}/members"),
    ("GET", "/api/v1/organizations/{acronym}/members"),
    ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}"),
    ("DELETE", "/api/v1/organizations/{acronym}/members/{member_id}"),
    ("POST", "/api/v1/organizations/{acronym}/api-keys"),
    ("GET", "/api/v1/organizations/{acronym}/api-keys"),
    ("DELETE", "/api/v1/api-keys/{key_id}"),
    ("GET", "/api/v1/me"),
}

# (method, route, organization, case) -> status for PEOPLE_ROLES
PEOPLE_MATRIX: dict[tuple[str, str, str, str], tuple[int, int, int, int, int, int]] = {
    ("POST", "/api/v1/organizations/{acronym}/members", A, "provider"): (
        401, 403, 201, 403, 403, 201,
    ),
    ("POST", "/api/v1/organizations/{acronym}/members", A, "coordinator"): (
        401, 403, 403, 403, 403, 201,
    ),
    ("POST", "/api/v1/organizations/{acronym}/members", B, "provider"): (
        401, 403, 403, 201, 403, 201,
    ),
    ("GET", "/api/v1/organizations/{acronym}/members", A, ""): (401, 403, 200, 403, 403, 200),
    ("GET", "/api/v1/organizations/{acronym}/members", B, ""): (401, 403, 403, 200, 403, 200),
    ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}", A, "manages"): (
        401, 403, 200, 403, 403, 200,
    ),
    ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}", A, "to coordinator"): (
        401, 403, 403, 403, 403, 200,
    ),
    ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}", A, "a coordinator"): (
        401, 403, 403, 403, 403, 200,
    ),
    ("PATCH", "/api/v1/organizations/{acronym}/members/{member_id}", B, "manages"): (
        401, 403, 403, 200, 403, 200,
    ),
    ("DELETE", "/api/v1/organizations/{acronym}/members/{member_id}", A, "a provider"): (
        401, 403, 204, 403, 403, 204,
    ),
    ("DELETE", "/api/v1/organizations/{acronym}/members/{member_id}", A, "a coordinator"): (
        401, 403, 403, 403, 403, 204,
    ),
    ("DELETE", "/api/v1/organizations/{acronym}/members/{member_id}", B, "a provider"): (
        401, 403, 403, 204, 403, 204,
    ),
    ("POST", "/api/v1/organizations/{acronym}/api-keys", A, "provider"): (
        401, 403, 201, 403, 403, 201,
    ),
    ("POST", "/api/v1/organizations/{acronym}/api-keys", A, "coordinator"): (
        401, 403, 403, 403, 403, 201,
    ),
    ("POST", "/api/v1/organizations/{acronym}/api-keys", B, "provider"): (
        401, 403, 403, 201, 403, 201,
    ),
    ("GET", "/api/v1/organizations/{acronym}/api-keys", A, ""): (401, 403, 200, 403, 403, 200),
    ("GET", "/api/v1/organizations/{acronym}/api-keys", B, ""): (401, 403, 403, 200, 403, 200),
    ("DELETE", "/api/v1/api-keys/{key_id}", A, "an organization key"): (
        401, 403, 200, 403, 403, 200,
    ),
    ("DELETE", "/api/v1/api-keys/{key_id}", B, "an organization key"): (
        401, 403, 403, 200, 403, 200,
    ),
    ("GET", "/api/v1/me", A, ""): (401, 200, 200, 200, 200, 200),
}  # fmt: skip


@pytest.fixture
def people_world(world: World, engine: Engine) -> World:
    """The world, with two managers who are people acting through keys of their own."""
    for role, acronym, email in (
        ("mgr_a", A, "lead.a@example.org"),
        ("mgr_b", B, "lead.b@example.org"),
    ):
        member = make_member(engine, acronym, email, manages=True, key_role="provider")
        assert member.key is not None
        world.keys[role] = member.key
    return world


def call_people(world: World, role: str, method: str, path: str, org: str, what: str) -> Any:
    api, h = world.api, world.headers(role)
    admin = world.as_("admin")

    def member(role_there: str = "provider") -> str:
        made = api.post(
            f"{API}/organizations/{org}/members",
            json={"email": f"{uuid.uuid4().hex[:8]}@example.org", "role": role_there},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    base = f"{API}/organizations/{org}"
    if path == "/api/v1/organizations/{acronym}/members":
        if method == "POST":
            body = {"email": f"{uuid.uuid4().hex[:8]}@example.org", "role": what}
            return api.post(f"{base}/members", json=body, headers=h)
        return api.get(f"{base}/members", headers=h)
    if path == "/api/v1/organizations/{acronym}/members/{member_id}":
        if method == "DELETE":
            target = member("coordinator" if what == "a coordinator" else "provider")
            return api.delete(f"{base}/members/{target}", headers=h)
        change = {"manages": {"manages": True}, "to coordinator": {"role": "coordinator"}}
        target = member("coordinator" if what == "a coordinator" else "provider")
        return api.patch(
            f"{base}/members/{target}", json=change.get(what, {"manages": True}), headers=h
        )
    if path == "/api/v1/organizations/{acronym}/api-keys":
        if method == "POST":
            return api.post(f"{base}/api-keys", json={"role": what}, headers=h)
        return api.get(f"{base}/api-keys", headers=h)
    if path == "/api/v1/api-keys/{key_id}":
        made = api.post(f"{base}/api-keys", json={"role": "provider"}, headers=admin)
        return api.delete(f"{API}/api-keys/{made.json()['id']}", headers=h)
    assert path == "/api/v1/me", path
    return api.get(f"{API}/me", headers=h)


def test_the_people_matrix_covers_the_people_routes() -> None:
    covered = {(method, path) for method, path, _, _ in PEOPLE_MATRIX}
    assert covered == PEOPLE_ROUTES
    assert PEOPLE_ROUTES.issubset(MATRIX)  # and each is in the main matrix too


def test_managers_manage_their_own_organization_only(people_world: World) -> None:
    wrong = []
    for (method, path, org, what), expected in PEOPLE_MATRIX.items():
        for role, status in zip(PEOPLE_ROLES, expected, strict=True):
            got = call_people(people_world, role, method, path, org, what).status_code
            if got != status:
                wrong.append(f"{method} {path} ({org}, {what}) as {role}: {got}, expected {status}")
    assert wrong == [], "\n".join(wrong)


def test_a_manager_sees_the_keys_of_their_organization_and_whose_they_are(
    people_world: World,
) -> None:
    api = people_world.api
    listed = api.get(f"{API}/organizations/{A}/api-keys", headers=people_world.as_("mgr_a"))
    owners = {k["owner"] for k in listed.json()["items"]}
    assert "lead.a <lead.a@example.org>" in owners
    assert None in owners  # A's organization key
    assert not any("lead.b" in (owner or "") for owner in owners)
    me = api.get(f"{API}/me", headers=people_world.as_("mgr_a")).json()
    assert me["person"]["email"] == "lead.a@example.org"
    assert me["person"]["memberships"][0]["manages"] is True
