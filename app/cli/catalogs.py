"""The translation catalogs (app/core/locale/<language>.po) and what they must hold.

`bash .ci/catalogs` extracts the messages of the code and templates with Babel's `pybabel
extract` (babel.cfg), adds those the code makes from codes, which no extraction can see (the
words of vocabulary codes and field names, app.core.i18n.label; the M49 regions' names), and
brings each language's catalog up to date with `pybabel update`.  The tests check every
catalog translates every one of them (tests/web/test_catalogs.py)."""

import sys
from pathlib import Path
from typing import get_args

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from app.activities.models import ActivityCreate
from app.assistance.models import Priority, RequestBase, RequestStatus
from app.core import differences, i18n, vocab
from app.findings.models import Decision, FindingKind, FindingStatus
from app.reports.models import CoverageBy

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "plural": (1, 2)}
# The codes of app.core.matching's and app.core.provider_fit's reasons, named by label() when a
# reason was stored without its params.
REASONS = (
    "title_similar",
    "dates_close",
    "dates_overlap",
    "same_country",
    "same_theme",
    "same_type",
    "same_venue",
    "same_external_ref",
    "partner_overlap",
    "experience_state",
    "experience_theme",
)


def computed_messages() -> set[str]:
    """The messages made from codes: the words of every vocabulary code, status, role, reason
    and field name (as i18n.label writes them) and every M49 region's name."""
    codes: set[str] = set()
    for vocabulary in (
        vocab.Theme,
        vocab.Domain,
        vocab.ActivityType,
        vocab.Audience,
        vocab.Status,
        vocab.Visibility,
        vocab.Modality,
        vocab.Role,
        vocab.OrgKind,
        FindingKind,
        FindingStatus,
        Decision,
        RequestStatus,
        Priority,
    ):
        codes |= set(get_args(vocabulary))
    codes |= set(REASONS)
    codes |= set(differences.AUDIENCE_WORDS)  # the audiences a title names (not_duplicate)
    codes |= {"create", "update", "mark_duplicate", "venue_city", *get_args(CoverageBy)}
    codes |= set(ActivityCreate.model_fields) | set(RequestBase.model_fields) | {"provider"}
    words = {code.replace("_", " ").capitalize() for code in codes}
    return words | set(vocab.geography().region_names.values())


def extracted_messages() -> set[str | tuple[str, ...]]:
    """What `pybabel extract -F babel.cfg -k N_ -k plural:1,2 app` finds: the singular, or the
    (singular, plural) pair, of every message of the code and templates."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
        ROOT / "app", method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message)
    return found


def add_computed(template: Path) -> None:
    """Add the computed messages to the template `pybabel extract` wrote."""
    with template.open("rb") as read:
        catalog: Catalog = read_po(read)
    for message in sorted(computed_messages()):
        if message not in catalog:
            catalog.add(message, auto_comments=["made from a code (app/cli/catalogs.py)"])
    with template.open("wb") as written:
        write_po(written, catalog, width=100, sort_output=True, omit_header=True)


if __name__ == "__main__":  # python -m app.cli.catalogs app/core/locale/messages.pot
    add_computed(Path(sys.argv[1]))
    print(f"{len(computed_messages())} computed messages in {sys.argv[1]}", file=sys.stderr)
    print(f"languages: {', '.join(i18n.LANGUAGES)}", file=sys.stderr)
