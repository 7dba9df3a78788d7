"""The translation catalogs: every message of the code and templates, as Babel's `pybabel
extract` finds it (babel.cfg), and every message made from a code (app/cli/catalogs.py), is
translated in every language of the service, with its placeholders and all its plural forms."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.cli.catalogs import ROOT, computed_messages, extracted_messages
from app.core import i18n

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]")


def catalog(language: str) -> dict[str, tuple[str, ...]]:
    """The language's translations: singular msgid -> its form(s), empty ones left out."""
    with (i18n.LOCALE_DIR / f"{language}.po").open("rb") as po:
        read = read_po(po, locale=language)
    found = {}
    for message in read:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(forms):
            found[key] = tuple(forms)
    return found


@pytest.mark.parametrize("language", [code for code in i18n.LANGUAGES if code != "en"])
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    translated = catalog(language)
    wanted = {m if isinstance(m, str) else m[0]: m for m in extracted_messages()}
    wanted |= {message: message for message in computed_messages()}
    missing = sorted(set(wanted) - set(translated))
    assert missing == [], f"{language}: {len(missing)} messages without a translation"
    wrong = []
    for key, message in wanted.items():
        english = set(
            PLACEHOLDER.findall(" ".join([message] if isinstance(message, str) else message))
        )
        for form in translated[key]:
            # a plural form may leave %(n)s out ("one" in words), never add one
            said = set(PLACEHOLDER.findall(form))
            if not said <= english or (isinstance(message, str) and said != english):
                wrong.append((key, form))
    assert wrong == []


def test_extraction_is_babels_own(tmp_path: Path) -> None:
    """The messages the tests expect are those `pybabel extract` (the command .ci/catalogs
    runs) writes to the template."""
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            *("-k", "N_", "-k", "plural:1,2"),
            "--no-location",
            "-o",
            str(template),
            "app",
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    with template.open("rb") as written:
        ids = {m.id for m in read_po(written) if m.id}
    assert ids == extracted_messages()
