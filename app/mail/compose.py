"""E-mails composed from templates (app/mail/templates/): a subject, a plain text part and an
HTML part that adds nothing the text lacks (docs: PAGES.md, E-mails), in the reader's language.

Each mail is `<name>.txt`, whose top-level `subject` is the subject, and `<name>.html`
(autoescaped), both extending the layout that says why the reader gets it."""

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
    }
    text = environment.get_template(f"{template}.txt").make_module(values)
    subject = " ".join(str(vars(text)["subject"]).split())[
        :SUBJECT_LENGTH
    ]  # one line, whatever names
    html = environment.get_template(f"{template}.html").render(values, subject=subject)
    return Composed(subject=subject, text=_wrapped(str(text).strip()) + "\n", html=html)


def _wrapped(text: str) -> str:
    return "\n".join(
        textwrap.fill(line, WIDTH, break_long_words=False, break_on_hyphens=False)
        if len(line) > WIDTH
        else line
        for line in text.splitlines()
    )
