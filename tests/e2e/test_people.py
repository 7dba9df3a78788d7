"""People sign in as themselves, in a real browser (headless Chromium) against a real
`assistcal serve`, with a real SMTP server (aiosmtpd) receiving its e-mails and a real
OpenID Connect provider (oauth2-mock-server) for single sign-on.

An admin invites a person; the person reads the e-mail, follows the link, is signed in,
makes a key, submits an activity with it, and the activity's history names them; they sign
out and back in by an e-mail link; a second person signs in through single sign-on and a
stranger is refused; a removed member is refused at once.  Screenshots of each page go to
test-output/screenshots."""

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import trustme

from tests.e2e.browser import expect, labelled, needs_browser, shot, sign_in_with_key
from tests.e2e.live import Server, start, stop
from tests.helpers import activity_body
from tests.support.oidc import OidcServer, start_oidc_server
from tests.support.smtp import SmtpServer
from tests.support.smtp import start as start_smtp

pytestmark = needs_browser
ORG = "OAS-CICTE"
ANA, LUIS = "ana.perez@oas.org", "luis.gomez@oas.org"
SSO_NAME = "UN Entra ID"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server, controller = start_smtp("smtp", trustme.CA())
    yield server
    controller.stop()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    server = start_oidc_server(tmp_path_factory.mktemp("oidc"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer, provider: OidcServer
) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("people")
    process, server = start(
        folder,
        environment={
            "ASSISTCAL_SMTP_URL": smtp.url,
            "ASSISTCAL_MAIL_FROM": "assistcal <calendar@example.org>",
            "ASSISTCAL_MAIL_POLL_SECONDS": "0.5",
            "ASSISTCAL_OIDC_ISSUER": provider.issuer,
            "ASSISTCAL_OIDC_CLIENT_ID": "assistcal-test",
            "ASSISTCAL_OIDC_CLIENT_SECRET": "a-secret-for-the-test",
            "ASSISTCAL_OIDC_NAME": SSO_NAME,
            "ASSISTCAL_NOTICE_WAIT_SECONDS": "1",  # notices go out a second after the change
        },
    )
    admin = next(line.strip() for line in server.output if line.strip().startswith("ac_"))
    assert any("mail: through smtp://127.0.0.1" in line for line in server.output), server.output
    made = httpx.post(
        f"{server.url}/api/v1/organizations",
        json={"acronym": ORG, "name": "Inter-American Committee against Terrorism"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert made.status_code == 201, made.text
    yield server, admin
    stop(process)


def mail_to(smtp: SmtpServer, address: str, subject: str, seen: int = 0) -> EmailMessage:
    """The next e-mail to `address` whose subject has `subject`, after the first `seen`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [
            r.message
            for r in smtp.received
            if address in r.recipients and subject in str(r.message["Subject"])
        ]
        if len(found) > seen:
            return found[seen]
        time.sleep(0.1)
    raise AssertionError(f"no e-mail to {address} about {subject!r}: {smtp.received}")


def link_in(message: EmailMessage) -> str:
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"]
    assert message["Date"]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None, "a text part"
    assert html is not None, "an HTML part"
    found = re.search(r"https?://\S+/auth/link/[\w-]+", text.get_content())
    assert found is not None, text.get_content()
    assert found.group(0) in html.get_content()
    return found.group(0)


def header_name(page: Any) -> Any:
    return page.locator("#account-link")


def test_people_invited_sign_in_act_and_are_removed(
    browser: Any, site: tuple[Server, str], smtp: SmtpServer, provider: OidcServer
) -> None:
    server, admin_key = site
    admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    admin_page = admin.new_page()
    sign_in_with_key(admin_page, server.url, admin_key)

    # The admin invites Ana on the organization's members page.
    admin_page.goto(f"{server.url}/organizations/{ORG}/members")
    admin_page.get_by_label("E-mail address").fill(ANA.upper())  # addresses have no case
    admin_page.get_by_label("Name (optional)").fill("Ana Pérez")
    admin_page.get_by_label("Role", exact=True).select_option("provider")
    admin_page.get_by_label("May invite and remove members").check()
    admin_page.get_by_role("button", name="Send the invitation").click()
    expect(admin_page.get_by_role("status")).to_contain_text(f"Invitation sent to {ANA}")
    expect(admin_page.locator("table.list").first).to_contain_text("Invited")
    labelled(admin_page)
    shot(admin_page, "people-members")

    # Ana reads the invitation and follows its link: a page with a button, then her account.
    invitation = mail_to(smtp, ANA, ORG)
    assert invitation["To"] == ANA  # as invited, without the capitals it was typed with
    assert "Ana Pérez (" not in invitation.get_body(("plain",)).get_content()  # an admin key
    link = link_in(invitation)
    ana = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = ana.new_page()
    page.goto(link)
    expect(page.get_by_text(f"You are signing in as {ANA}")).to_be_visible()
    shot(page, "people-invitation-link")
    page.get_by_role("button", name="Accept the invitation and sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(header_name(page)).to_have_text("Ana Pérez")
    labelled(page)
    shot(page, "people-account-phone")

    # She makes a key of her own, and a program submits an activity with it.
    page.get_by_label("What the key is for (optional)").fill("our planning sheet")
    page.get_by_role("button", name=f"Make a key for {ORG}").click()
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith("ac_")
    body = {**activity_body(title="Regional workshop on export control of dual-use goods")}
    made = httpx.post(
        f"{server.url}/api/v1/activities", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert made.status_code == 201, made.text
    activity_id = made.json()["activity"]["id"]
    assert made.json()["activity"]["provider"] == ORG

    # The activity's history names her, on the page and in the API.
    page.goto(f"{server.url}/activity/{activity_id}")
    expect(page.locator("ol.history")).to_contain_text(f"Ana Pérez ({ORG})")
    history = httpx.get(
        f"{server.url}/api/v1/activities/{activity_id}/history",
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    entry = history["items"][0] if isinstance(history, dict) else history[0]
    assert (entry["actor_name"], entry["actor_email"]) == ("Ana Pérez", ANA)

    # The link is used up: following it again says so, and signs no one in.
    again = browser.new_context()
    used = again.new_page()
    used.goto(link)
    expect(used.get_by_role("alert")).to_contain_text("used already")
    shot(used, "people-link-used")
    again.close()

    # She signs out, and back in with a link by e-mail.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.goto(f"{server.url}/sign-in")
    expect(page.get_by_role("link", name=f"Sign in with {SSO_NAME}")).to_be_visible()
    shot(page, "people-sign-in-phone")
    page.get_by_label("Your e-mail address").fill(ANA)
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_role("status")).to_contain_text(ANA)
    sign_in_mail = mail_to(smtp, ANA, "sign-in")
    page.goto(link_in(sign_in_mail))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(header_name(page)).to_have_text("Ana Pérez")

    # An address that is no member's gets the same answer, and no e-mail.
    sent = len(smtp.received)
    stranger = browser.new_context().new_page()
    stranger.goto(f"{server.url}/sign-in")
    stranger.get_by_label("Your e-mail address").fill("nobody@example.org")
    stranger.get_by_role("button", name="Send me a sign-in link").click()
    expect(stranger.get_by_role("status")).to_contain_text("nobody@example.org")

    # A second person, invited by Ana (she manages OAS-CICTE), signs in with single sign-on.
    invited = httpx.post(
        f"{server.url}/api/v1/organizations/{ORG}/members",
        json={"email": LUIS, "name": "Luis Gómez", "role": "provider"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert invited.status_code == 201, invited.text
    luis = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    provider.set_identity(LUIS, verified=False, name="Luis Gómez")  # the provider won't vouch
    luis.goto(f"{server.url}/sign-in")
    luis.get_by_role("link", name=f"Sign in with {SSO_NAME}").click()
    expect(luis.get_by_role("alert")).to_contain_text("did not confirm this e-mail address")
    provider.set_identity(LUIS, verified=True, name="Luis Gómez")
    luis.goto(f"{server.url}/sign-in")
    luis.get_by_role("link", name=f"Sign in with {SSO_NAME}").click()
    expect(header_name(luis)).to_have_text("Luis Gómez")
    expect(luis.locator("#acting-as")).to_contain_text(ORG)

    # Someone the provider knows but no one invited is refused, with a page that says why.
    provider.set_identity("someone.else@oas.org", verified=True, name="Someone Else")
    stranger.goto(f"{server.url}/sign-in")
    stranger.get_by_role("link", name=f"Sign in with {SSO_NAME}").click()
    expect(stranger.get_by_role("alert")).to_contain_text("no invitation for this e-mail")
    shot(stranger, "people-sso-refused")
    assert len([r for r in smtp.received if "nobody@example.org" in r.recipients]) == 0
    assert len(smtp.received) >= sent + 1  # Luis's invitation went out meanwhile

    # The admin removes Ana: her next page and her key's next request are refused.
    admin_page.goto(f"{server.url}/organizations/{ORG}/members")
    row = admin_page.locator("tr", has_text=ANA)
    row.get_by_role("button", name="Remove").click()
    expect(admin_page.get_by_role("status")).to_contain_text("removed")
    page.goto(f"{server.url}/account")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    refused = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401, refused.text


def test_the_sign_in_page_in_spanish(browser: Any, site: tuple[Server, str]) -> None:
    server, _ = site
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="es-MX",
        extra_http_headers={"Accept-Language": "es-MX,es;q=0.9"},
    )
    page = context.new_page()
    page.goto(f"{server.url}/sign-in")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    expect(
        page.get_by_role("button", name="Enviarme un enlace para iniciar sesión")
    ).to_be_visible()
    expect(page.get_by_role("link", name=f"Iniciar sesión con {SSO_NAME}")).to_be_visible()
    labelled(page)
    shot(page, "people-sign-in-es")


def test_a_forged_link_is_refused_with_a_page(browser: Any, site: tuple[Server, str]) -> None:
    server, _ = site
    page = browser.new_context().new_page()
    response = page.goto(f"{server.url}/auth/link/{'x' * 43}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("not one of ours")


def test_a_person_chooses_their_e_mails_and_stops_one_kind_from_its_link(
    browser: Any, site: tuple[Server, str], smtp: SmtpServer
) -> None:
    """A coordinator chooses what she is told on /account (on a phone), gets a notice of a
    possible duplicate, and follows its unsubscribe link without signing in."""
    server, admin_key = site
    admin = {"Authorization": f"Bearer {admin_key}"}
    carla = "carla.ruiz@oas.org"
    invited = httpx.post(
        f"{server.url}/api/v1/organizations/{ORG}/members",
        json={"email": carla, "role": "coordinator", "name": "Carla Ruiz"},
        headers=admin,
    )
    assert invited.status_code == 201, invited.text
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = context.new_page()
    page.goto(link_in(mail_to(smtp, carla, ORG)))
    page.get_by_role("button", name="Accept the invitation and sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))

    page.get_by_label(
        "changes to my organization's activities made by someone outside it"
    ).uncheck()
    page.get_by_label("A digest of what waits for review").select_option("daily")
    page.get_by_role("button", name="Save my choices of e-mail").click()
    expect(page.get_by_role("status")).to_have_text("Your choices of e-mail are saved.")
    expect(page.get_by_label("A digest of what waits for review")).to_have_value("daily")
    expect(
        page.get_by_label("changes to my organization's activities made by someone outside it")
    ).not_to_be_checked()
    labelled(page)
    shot(page, "account-notices-390")

    # Two organizations record one workshop: Carla hears of it a moment later.
    keys = {}
    for acronym in (ORG, "BAFA"):
        if acronym != ORG:
            httpx.post(
                f"{server.url}/api/v1/organizations",
                json={"acronym": acronym, "name": "Federal Office for Economic Affairs"},
                headers=admin,
            )
        made = httpx.post(
            f"{server.url}/api/v1/organizations/{acronym}/api-keys",
            json={"role": "provider"},
            headers=admin,
        )
        keys[acronym] = made.json()["key"]
    body = activity_body(title="Workshop on strategic trade controls", countries=["BZ"])
    for acronym in (ORG, "BAFA"):
        answer = httpx.post(
            f"{server.url}/api/v1/activities",
            json=body,
            headers={"Authorization": f"Bearer {keys[acronym]}"},
        )
        assert answer.status_code == 201, answer.text
    notice = mail_to(smtp, carla, "Possible duplicate: Belize")
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = notice["List-Unsubscribe"].strip("<>")
    path = unsubscribe[unsubscribe.index("/unsubscribe/") :]

    # The link, opened in another browser (not signed in), asks before it changes anything.
    stranger = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    other = stranger.new_page()
    other.goto(f"{server.url}{path}")
    expect(other.get_by_role("heading", name="Stop e-mails")).to_be_visible()
    expect(other.get_by_text(carla)).to_be_visible()
    shot(other, "unsubscribe-ask-390")
    other.get_by_role("button", name="Stop these e-mails").click()
    expect(other.get_by_role("heading", name="E-mails stopped")).to_be_visible()
    shot(other, "unsubscribe-done-390")
    # A link changed on the way does nothing.
    other.goto(f"{server.url}{path[:-4]}AAAA")
    expect(other.get_by_role("heading", name="This link does not work")).to_be_visible()
    stranger.close()

    page.reload()
    expect(
        page.get_by_label(
            "possible duplicates, overlaps and clashes involving my organization's activities"
        )
    ).not_to_be_checked()
    expect(page.get_by_label("coordinators' decisions on them")).to_be_checked()
    context.close()
