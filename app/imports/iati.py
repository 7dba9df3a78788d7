"""IATI activity files in (IATI Standard 2.0x): each iati-activity becomes a row of the import
table, its columns named by the elements they come from, with notes of what the row could not
take (transactions, budgets, sectors of other vocabularies, States it does not know...).

The provider is left as the reporting-org's ref and the external_ref as the whole
iati-identifier: which organization of the service a ref names is for app.imports.service to
say, which has the database.  The XML is parsed without a DTD, entities or network access,
and a file that declares a DOCTYPE is refused: an IATI file has none, and entity expansion is
how an XML bomb grows."""

import re
from datetime import date, timedelta
from typing import Any

from lxml import etree

from app.core import activity_rules, vocab
from app.errors import ValidationFailed
from app.exports import iati as export
from app.imports.readers import Table

XML_LANG = export.XML_LANG
# column header -> field; the headers name the elements read (docs/api.md, "IATI import")
COLUMNS: dict[str, str] = {
    "iati-identifier": "external_ref",
    "iati-identifier (this service's id)": "id",
    "reporting-org/@ref": "provider",
    "title/narrative": "title",
    "description/narrative": "description",
    "iati-activity/@xml:lang": "language",
    "participating-org/narrative": "partners",
    "activity-status/@code": "status",
    "activity-date/@iso-date (start)": "start_date",
    "activity-date/@iso-date (end)": "end_date",
    "contact-info/email": "contact_email",
    "contact-info/website": "url",
    "recipient-country/@code": "countries",
    "recipient-region/@code": "regions",
    "sector/@code": "themes",
}
HEADERS = list(COLUMNS)
STATUSES = {code: status for status, code in export.STATUS_CODES.items()} | {"4": "completed"}
STATUS_NAMES = {"1": "pipeline", "2": "implementation", "3": "finalisation", "4": "closed"}
# Elements whose content the import takes (some of it, as the notes tell).
READ = {
    "iati-identifier",
    "reporting-org",
    "title",
    "description",
    "participating-org",
    "activity-status",
    "activity-date",
    "contact-info",
    "recipient-country",
    "recipient-region",
    "sector",
}


def read(data: bytes) -> Table:
    root = _parse(data)
    if root.tag == "iati-activity":
        activities = [root]
    elif root.tag == "iati-activities":
        version = root.get("version", "")
        if not version.startswith("2."):
            raise _bad(
                f"IATI version {version or '(none)'}: only version 2 files (2.01 to 2.03) "
                "are read; convert it with the IATI tools first"
            )
        activities = [child for child in root if child.tag == "iati-activity"]
    else:
        raise _bad(f"an XML file whose root is <{root.tag}>: send an IATI activity file")
    if not activities:
        raise _bad("no iati-activity in the file")
    default_language = root.get(XML_LANG) or "en"
    table = Table(list(HEADERS), [], kind="iati", fields=[*COLUMNS.values()])
    for number, activity in enumerate(activities, 2):
        values, notes = _row(activity, activity.get(XML_LANG) or default_language)
        table.rows.append((number, [values.get(field) for field in COLUMNS.values()]))
        ref = values.get("external_ref") or ""
        table.notes.extend((number, ref, note) for note in notes)
    return table


def _parse(data: bytes) -> Any:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data:  # libxml2 stops some entity bombs itself: say why all the same
            raise _doctype() from exc
        raise _bad(f"not well-formed XML (line {exc.lineno}): {exc.msg}") from exc
    if root.getroottree().docinfo.doctype:
        raise _doctype()
    return root


def _doctype() -> ValidationFailed:
    return _bad(
        "the file declares a DOCTYPE (a DTD or entities); IATI files have none, and such a "
        "file is refused: its entities could expand without end or read other files"
    )


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed.on("file", message)


def _row(activity: Any, language: str) -> tuple[dict[str, Any], list[str]]:
    """An activity's cells by field, and what of it the import cannot take."""
    notes: list[str] = []
    reporting = activity.find("reporting-org")
    reporter_ref = (reporting.get("ref") or "").strip() if reporting is not None else ""
    values: dict[str, Any] = {
        "external_ref": _text(activity.find("iati-identifier")),
        "provider": reporter_ref or None,
        "language": language,
    }
    values["title"], other_languages = _narrative(activity.find("title"), language)
    descriptions = activity.findall("description")
    general = [d for d in descriptions if d.get("type") in (None, "1")][:1]
    values["description"], more = _narrative(general[0] if general else None, language)
    other_languages |= more
    if len(descriptions) > len(general):
        notes.append(
            f"{len(descriptions) - len(general)} description(s) other than the general one "
            "(objectives, target groups...) not imported"
        )
    if other_languages:
        notes.append(
            f"title and description kept in {language}; the texts in "
            f"{', '.join(sorted(other_languages))} not imported"
        )
    values["partners"] = _partners(activity, reporter_ref, language) or None
    values["status"] = _status(activity.find("activity-status"), notes)
    values["start_date"] = _date(activity, ("1", "2"))
    values["end_date"] = _within_a_year(values["start_date"], _date(activity, ("3", "4")), notes)
    contact = activity.find("contact-info")
    if contact is not None:
        values["contact_email"] = _text(contact.find("email"))
        values["url"] = _text(contact.find("website"))
    values["countries"], values["regions"] = _places(activity, notes)
    values["themes"] = _themes(activity, notes)
    ignored = _ignored(activity)
    if ignored:
        notes.append(f"not imported (no field holds them): {ignored}")
    return values, notes


def _text(element: Any) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _narrative(element: Any, language: str) -> tuple[str | None, set[str]]:
    """The element's narrative in `language` (a narrative without xml:lang is in it), else
    its first; and the other languages it has."""
    if element is None:
        return None, set()
    narratives = [n for n in element.findall("narrative") if _text(n)]
    if not narratives:
        return None, set()
    chosen = next((n for n in narratives if (n.get(XML_LANG) or language) == language), None)
    chosen = narratives[0] if chosen is None else chosen
    others = {n.get(XML_LANG) or language for n in narratives if n is not chosen}
    return _text(chosen), others - {chosen.get(XML_LANG) or language}


def _partners(activity: Any, reporter_ref: str, language: str) -> list[str]:
    """The participating organisations other than the reporting one, by name (else ref)."""
    names: list[str] = []
    for org in activity.findall("participating-org"):
        ref = (org.get("ref") or "").strip()
        if reporter_ref and ref == reporter_ref:
            continue
        name = _narrative(org, language)[0] or ref
        if name and name not in names:
            names.append(name)
    return names


def _status(element: Any, notes: list[str]) -> str | None:
    code = (element.get("code") or "").strip() if element is not None else ""
    if not code:
        return None
    if code not in STATUSES:
        notes.append(f"activity-status {code!r} is not an IATI ActivityStatus code: not imported")
        return None
    return STATUSES[code]


def _date(activity: Any, types: tuple[str, ...]) -> str | None:
    """The first activity-date of these types, in this order (planned, else actual)."""
    for kind in types:
        for element in activity.findall("activity-date"):
            if element.get("type") == kind and element.get("iso-date"):
                return str(element.get("iso-date")).strip()
    return None


def _within_a_year(start: str | None, end: str | None, notes: list[str]) -> str | None:
    """The end date, or the last day a calendar activity starting on `start` may have: an
    IATI activity is often a programme of several years, which the calendar cannot hold."""
    try:
        first, last = date.fromisoformat(start or ""), date.fromisoformat(end or "")
    except ValueError:
        return end  # the row reports a date it cannot read
    longest = first + timedelta(days=activity_rules.MAX_DURATION_DAYS - 1)
    if last <= longest:
        return end
    notes.append(
        f"its dates ({first} to {last}) span more than the {activity_rules.MAX_DURATION_DAYS} "
        f"days a calendar activity may last: imported as {first} to {longest}"
    )
    return longest.isoformat()


def _places(activity: Any, notes: list[str]) -> tuple[str | None, str | None]:
    """Recipient countries that are States the service knows, and UN M49 regions; the rest
    noted (percentages are not kept: a region stands for all its States)."""
    countries: list[str] = []
    unknown: list[str] = []
    for element in activity.findall("recipient-country"):
        code = (element.get("code") or "").strip().upper()
        (countries if vocab.is_country(code) else unknown).append(code)
    if unknown:
        notes.append(f"recipient-country {', '.join(unknown)}: not a State known here, left out")
    regions: list[str] = []
    others: list[str] = []
    for element in activity.findall("recipient-region"):
        code = (element.get("code") or "").strip()
        vocabulary = element.get("vocabulary") or "1"
        m49 = code.zfill(3) if code.isdigit() else code
        if vocabulary == export.M49 and vocab.is_region(m49):
            regions.append(m49)
        else:
            others.append(f"{code} (vocabulary {vocabulary})")
    if others:
        notes.append(
            f"recipient-region {', '.join(others)}: only UN M49 regions (vocabulary 2) are "
            "read, left out"
        )
    if not countries and not regions:
        notes.append("no beneficiary State or region it could recognise")
    return "; ".join(countries) or None, "; ".join(regions) or None


def _themes(activity: Any, notes: list[str]) -> list[str] | None:
    """The sectors that are 1540 themes (vocabulary 99, as the export writes them)."""
    themes: list[str] = []
    others: list[str] = []
    for element in activity.findall("sector"):
        code = (element.get("code") or "").strip()
        vocabulary = element.get("vocabulary") or "1"
        if vocabulary == export.OWN_VOCABULARY and code in vocab.THEMES:
            themes.append(code)
        else:
            others.append(f"{code} (vocabulary {vocabulary})")
    if others:
        notes.append(f"sector {', '.join(others)}: not a 1540 theme, left out")
    if not themes:
        notes.append(
            "no 1540 theme among its sectors: give one with defaults, e.g. "
            '{"themes": "export_control"}'
        )
    return themes or None


def _ignored(activity: Any) -> str:
    """The elements the import does not read, with how many of each: "budget (2), ..."."""
    counts: dict[str, int] = {}
    for child in activity:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag and tag not in READ:
            name = re.sub(r"^\{[^}]*\}", "", tag)
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ({count})" if count > 1 else name for name, count in counts.items())
