"""E-mails composed from templates (app/mail/templates/): a subject, a plain text part and an
HTML part that adds nothing the text lacks (docs: PAGES.md, E-mails), in the reader's language.

Each mail is `<name>.txt`, whose top-level `subject` is the subject, and `<name>.html`
(autoescaped), both extending the layout that says why the reader gets it.  Besides the
caller's context, a template has `language` and, in that language, `_` (a message), `plural`,
`label` (a vocabulary code), `day`, `country`, `region` and `listed` (names in a list)."""

import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from app.core import i18n

TEMPLATES = Path(__file__).parent / "templates"
SUBJECT_LENGTH = 300  # mail_outbox.subject
WIDTH = 72  # of the text part's lines; a link is never broken


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a context name left out is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def compose(template: str, language: str, **context: Any) -> Composed:
    """The mail `template` in `language` (one of i18n.LANGUAGES), with `context`."""
    if language not in i18n.LANGUAGES:
        raise ValueError(f"no e-mails in {language!r}")
    environment = _environment()
    values = {
        **context,
        "_": i18n.translator(language),
        "label": lambda code: i18n.label(code, language),
        "language": language,
        "direction": i18n.direction(language),
        # Dates, States, regions and counted words written the reader's way.
        "day": lambda value, style="medium": i18n.day(value, language, style),
        "country": lambda code: i18n.country(code, language),
        "region": lambda code: i18n.region(code, language),
        "listed": lambda items: i18n.listed(items, language),
        "sep": i18n.separator(language),  # between two items of a list
        "comma": i18n.comma(language),  # between two parts of a sentence
        "colon": lambda space="": i18n.colon(language, space),  # after a label
        "plural": lambda one, many, n, **more: i18n.plural(one, many, n, language, **more),
    }
    text = environment.get_template(f"{template}.txt").make_module(values)
    subject = " ".join(str(vars(text)["subject"]).split())[
        :SUBJECT_LENGTH
    ]  # one line, whatever names
    html = environment.get_template(f"{template}.html").render(values, subject=subject)
    return Composed(subject=subject, text=_wrapped(str(text).strip()) + "\n", html=html)


def _wrapped(text: str) -> str:
    return "\n".join(_fill(line) if len(line) > WIDTH else line for line in text.splitlines())


def _fill(line: str) -> str:
    """A long line in lines of WIDTH, keeping its indent, and a list item's ("- ") lines
    under its first word, so that a link on its own line under an item stays indented."""
    words = line.lstrip()
    indent = line[: len(line) - len(words)]
    hanging = indent + ("  " if words.startswith("- ") else "")
    return textwrap.fill(
        words,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )
