"""Every page a reader reaches, in each of the seven languages (app.core.i18n.LANGUAGES), in a
real browser: the page says its language and direction (`<html lang dir>`), nothing is wider
than a 390 px or a 1280 px window, no interface text is left in English, the layout runs the
language's way (mirrored in Arabic: the brand on the right, the calendar's first column on the
right), and axe-core finds no serious or critical violation in Arabic. Screenshots of each
page, language and width go to test-output/screenshots ("ar-calendar-list-390.png").

The language is chosen as a reader chooses it, with the language menu's link (`GET /language`,
which sets the `assistcal_lang` cookie), in one browser context per language: the anonymous
pages first, then the same context signed in as the demo's admin (a coordinator who also sees
every organization's pages)."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from babel.messages.pofile import read_po

from app.core.i18n import LANGUAGES, LOCALE_DIR, direction
from tests.e2e.axe import needs_axe, violations
from tests.e2e.browser import labelled, needs_browser, shot
from tests.e2e.live import Server, stop
from tests.e2e.site import demo_site, page_values, signed_in

pytestmark = [needs_browser, needs_axe]

WIDTHS = (390, 1280)
# (screenshot name, path): what anyone reaches, then what a signed-in coordinator does.
ANONYMOUS = [
    ("home", "/"),
    ("calendar-list", "/calendar?view=list"),
    ("calendar-timeline", "/calendar?view=timeline"),
    ("activity", "/activity/{activity_id}"),
    ("subscribe", "/subscribe"),
    ("sign-in", "/sign-in"),
    # The error pages: an activity that does not exist, and an address that names nothing.
    ("not-found", "/activity/999999"),
    ("no-such-page", "/no-such-page"),
]
SIGNED_IN = [
    ("review", "/review"),
    ("new-activity", "/activities/new"),
    ("our-activities", "/our/activities"),
    ("coverage", "/coverage"),
    ("import", "/import"),
    ("requests", "/requests"),
    ("request", "/requests/{request_id}"),
    ("organizations", "/organizations"),
    ("organization", "/organizations/{acronym}"),
    ("account", "/account"),
]

# Data, not interface: what people wrote (activity titles and descriptions, organization and
# person names, a request's text) is shown as written, in whatever language it was written,
# and may well be English on a Chinese page. The templates mark it for the reader's browser:
# text in its own direction (`dir="auto"`, `<bdi>`) or in its own language (`lang` on any
# element but <html>: the language menu's names of languages); links to an activity are its
# title. Everything else on a page is interface, which the catalog translates.
DATA = 'bdi, [dir="auto"], body [lang], a[href^="/activity/"]'

# The page's text as a reader meets it: each visible text node and each visible element's
# whole text (a message may hold markup: "<strong>3</strong> activities"), spaces collapsed;
# the options of a closed <select> count (they are read when it opens), and so do placeholders,
# button values and the window's title.
TEXTS = """data => {
  const squash = s => (s || '').replace(/\\s+/g, ' ').trim();
  const shown = e => e.closest('select') ? !e.closest('select').closest(data) &&
      e.closest('select').checkVisibility() : e.checkVisibility();
  const texts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent && !parent.closest(data) && !parent.closest('script, style') && shown(parent))
      texts.push(squash(node.data));
  }
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest(data) || e.closest('script, style') || !shown(e)) continue;
    if (e.placeholder) texts.push(squash(e.placeholder));
    if (e.matches('input[type=submit], input[type=button]')) texts.push(squash(e.value));
    const text = squash(e.textContent);
    // Longer than any message, or holding data: not one message as a whole.
    if (text.length < 300 && !e.querySelector(data)) texts.push(text);
  }
  return [...new Set(texts)].filter(t => t);
}"""

# Punctuation a template puts around a message ("Download these activities:", "← Earlier").
EDGES = " :·,.;!?()[]←→…\u2013\u2014\"'«»"  # with the en and em dashes


def bare(text: str) -> str:
    return text.strip(EDGES)


def english(language: str) -> list[tuple[str, re.Pattern[str]]]:
    """The catalog's English messages of two words or more whose translation into `language`
    is not the English itself, each with a pattern that matches the message as shown
    (`%(name)s` stands for any value; at least two of the message's own words are left)."""
    with (LOCALE_DIR / f"{language}.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    found = []
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        for msgid in ids:
            if not msgid or not any(strings) or msgid in strings:
                continue
            parts = re.split(r"%\(\w+\)[sd]|%[sd]", bare(msgid))
            if sum(len(part.split()) for part in parts) < 2:
                continue
            pattern = ".+?".join(re.escape(part) for part in parts)
            found.append((msgid, re.compile(pattern)))
    return found


def untranslated(page: Any, messages: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    texts = {bare(text) for text in page.evaluate(TEXTS, DATA)}
    return sorted(
        f"{text!r} (msgid {msgid!r})"
        for text in texts
        for msgid, pattern in messages
        if pattern.fullmatch(text)
    )


def runs_its_way(page: Any, lang: str, path: str) -> None:
    """Right to left in Arabic, left to right otherwise: the header's brand stands at the
    start of the line (right in Arabic) and the language menu after it; a table's first
    column, and the timeline's names, at the start too."""
    rtl = lang == "ar"

    def x(selector: str) -> float:
        box = page.locator(selector).first.bounding_box(timeout=5000)
        assert box is not None, f"{path}: no {selector}"
        return float(box["x"])

    pairs = [("header.top .brand", "header.top .languages")]
    if path == "/calendar?view=list":
        pairs.append(("table.list thead th:first-child", "table.list thead th:last-child"))
    if path == "/calendar?view=timeline":
        pairs.append((".tl-head .tl-name", ".tl-head .tl-track"))
    for first, then in pairs:
        assert (x(first) > x(then)) == rtl, f"{lang} {path}: {first} against {then}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """The demo calendar served, and what the pages' paths need (tests/e2e/site.py), with the
    admin's invitation token."""
    process, server, links = demo_site(tmp_path_factory.mktemp("languages"))
    yield server, {**page_values(server, links), "admin": links["admin"]}
    stop(process)


@pytest.fixture(scope="module")
def admin(browser: Any, site: tuple[Server, dict[str, str]]) -> Any:
    """The admin's signed-in browser state (their invitation accepted, once)."""
    server, values = site
    return signed_in(browser, server, values["admin"])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_in_every_language(
    browser: Any, site: tuple[Server, dict[str, str]], admin: Any, lang: str
) -> None:
    server, values = site
    messages = english(lang) if lang != "en" else []
    # axe's script is injected into the Arabic pages: their Content-Security-Policy would
    # refuse it.
    context = browser.new_context(
        viewport={"width": WIDTHS[-1], "height": 900}, bypass_csp=lang == "ar"
    )
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for signed, pages in ((False, ANONYMOUS), (True, SIGNED_IN)):
        if signed:
            # Signing in brings the person's own language (English here): they choose again.
            context.add_cookies(admin["cookies"])
        page.goto(f"{server.url}/language?to={lang}&next=%2F")
        for name, path in pages:
            path = path.format(**values)
            page.set_viewport_size({"width": WIDTHS[-1], "height": 900})
            page.goto(f"{server.url}{path}")
            problems = found.setdefault(path, [])
            attributes = page.evaluate("() => [document.documentElement.lang, document.dir]")
            if attributes != [lang, direction(lang)]:
                problems.append(f"<html lang dir> is {attributes}")
            if signed and page.locator("#account-link").count() == 0:
                problems.append("not signed in")
            runs_its_way(page, lang, path)
            if lang == "ar":
                problems += violations(page)
            problems += [f"English: {text}" for text in untranslated(page, messages)]
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                try:
                    labelled(page)
                except AssertionError as error:
                    problems.append(f"at {width} px: {error}")
                shot(page, f"{lang}-{name}-{width}")
    context.close()
    found = {path: sorted(set(p)) for path, p in found.items() if p}
    assert found == {}, "\n".join(f"{path}: {'; '.join(p)}" for path, p in found.items())
