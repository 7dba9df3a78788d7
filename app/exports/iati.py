"""Activities as an IATI activity file (IATI Standard 2.03, iati-activities-schema.xsd): one
iati-activity per activity, in the order of the list API.  docs/api.md ("IATI export") maps
every element to its field; app/imports/iati.py reads the same elements back.

Plain values in, bytes out: what comes from the database (the providers' IATI identifiers,
the confirmed duplicates) is handed in by app.exports.service."""

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from app.activities.models import ActivityPublic
from app.core import i18n

VERSION = "2.03"
# The reporting-org ref of a provider that has no IATI organisation identifier.  "ZZ" is an
# ISO 3166 code left to users, so no registration agency of org-id.guide will ever have it:
# such a ref can never be taken for a real organisation's identifier.
FALLBACK_PREFIX = "ZZ-ASSISTCAL-"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Characters XML 1.0 cannot hold at all (control characters other than tab and line breaks).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# IATI codelist ActivityStatus.  Confirmed is Implementation: the activity is agreed and
# being prepared.  Each status has a code of its own, so that the import reads it back.
STATUS_CODES = {
    "planned": "1",  # Pipeline/identification
    "confirmed": "2",  # Implementation
    "completed": "3",  # Finalisation
    "cancelled": "5",  # Cancelled
    "postponed": "6",  # Suspended
}
# IATI codelist OrganisationType, from the organization's kind.
ORGANISATION_TYPES = {
    "un_entity": "40",  # Multilateral
    "international_organization": "40",
    "regional_organization": "40",
    "national_agency": "10",  # Government
    "ngo": "21",  # International NGO
    "academia": "80",  # Academic, Training and Research
    "other": "90",  # Other
}
IMPLEMENTING = "4"  # codelist OrganisationRole
PLANNED_START, PLANNED_END = "1", "3"  # codelist ActivityDateType
THIRD_PARTY = "5"  # codelist RelatedActivityType: a report by another organisation
M49 = "2"  # codelist RegionVocabulary: UN Statistics Division (M49)
OWN_VOCABULARY = "99"  # codelist SectorVocabulary: the reporting organisation's own


@dataclass(frozen=True)
class Reporter:
    """A provider as IATI names it."""

    ref: str  # its IATI organisation identifier, or FALLBACK_PREFIX + its acronym
    name: str
    type: str  # codelist OrganisationType


def organisation_ref(acronym: str, iati_identifier: str | None) -> str:
    return iati_identifier or FALLBACK_PREFIX + acronym


def reporter(acronym: str, name: str, kind: str, iati_identifier: str | None) -> Reporter:
    return Reporter(organisation_ref(acronym, iati_identifier), name, ORGANISATION_TYPES[kind])


def identifier(reporter_ref: str, activity_ref: str | None, activity_id: uuid.UUID) -> str:
    """The activity's iati-identifier: its provider's ref, "-", its external_ref (else its
    id)."""
    return f"{reporter_ref}-{activity_ref or activity_id}"


def percentages(count: int) -> list[str]:
    """`count` shares of 100 with two decimals that add up to exactly 100 (the IATI rules ask
    it of several sectors, and of recipient countries and regions together)."""
    if count == 0:
        return []
    cents, extra = divmod(10_000, count)
    shares = [cents + (1 if i < extra else 0) for i in range(count)]
    return [str(s // 100) if s % 100 == 0 else f"{s // 100}.{s % 100:02d}" for s in shares]


def document(
    items: Iterable[ActivityPublic],
    *,
    reporters: Mapping[str, Reporter],
    partner_refs: Mapping[str, str],
    related: Mapping[uuid.UUID, list[str]],
    themes_uri: str,
    generated_at: datetime,
) -> bytes:
    """The iati-activities file.  `reporters`: each provider by acronym; `partner_refs`: the
    IATI identifiers of partners named by an organization's acronym; `related`: the
    iati-identifiers of each activity's confirmed duplicates."""
    root = etree.Element(
        "iati-activities", version=VERSION, **{"generated-datetime": _moment(generated_at)}
    )
    for activity in items:
        root.append(
            _activity(
                activity,
                reporters[activity.provider],
                partner_refs,
                related.get(activity.id, []),
                themes_uri,
            )
        )
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _activity(
    activity: ActivityPublic,
    provider: Reporter,
    partner_refs: Mapping[str, str],
    related: list[str],
    themes_uri: str,
) -> etree._Element:
    """One iati-activity, its elements in the order the schema's sequence requires."""
    language = activity.language
    element = etree.Element(
        "iati-activity",
        {"last-updated-datetime": _moment(activity.updated_at), XML_LANG: language},
    )
    ref = identifier(provider.ref, activity.external_ref, activity.id)
    _sub(element, "iati-identifier").text = ref
    _named(_sub(element, "reporting-org", ref=provider.ref, type=provider.type), provider.name)
    _narrative(_sub(element, "title"), activity.title, language)
    # The schema requires a description with a narrative: an activity without one has an
    # empty narrative, which the import reads as no description.
    _narrative(_sub(element, "description", type="1"), activity.description or "", language)
    org = _sub(element, "participating-org", ref=provider.ref, role=IMPLEMENTING)
    org.set("type", provider.type)
    _named(org, provider.name)
    for partner in activity.partners:
        attributes = {"role": IMPLEMENTING}
        if partner in partner_refs:
            attributes["ref"] = partner_refs[partner]
        _named(_sub(element, "participating-org", **attributes), partner)
    _sub(element, "activity-status", code=STATUS_CODES[activity.status])
    _sub(element, "activity-date", type=PLANNED_START, **{"iso-date": str(activity.start_date)})
    _sub(element, "activity-date", type=PLANNED_END, **{"iso-date": str(activity.end_date)})
    if activity.contact_email or activity.url:
        contact = _sub(element, "contact-info")
        if activity.contact_email:
            _sub(contact, "email").text = activity.contact_email
        if activity.url:
            _sub(contact, "website").text = activity.url
    places = percentages(len(activity.countries) + len(activity.regions))
    for code, share in zip(activity.countries, places, strict=False):
        _sub(element, "recipient-country", code=code, percentage=share)
    for code, share in zip(activity.regions, places[len(activity.countries) :], strict=True):
        _sub(element, "recipient-region", code=code, vocabulary=M49, percentage=share)
    for theme, share in zip(activity.themes, percentages(len(activity.themes)), strict=True):
        sector = _sub(element, "sector", vocabulary=OWN_VOCABULARY, code=theme, percentage=share)
        sector.set("vocabulary-uri", themes_uri)
        _narrative(sector, i18n.label(theme, "en"), "en")
    for other in related:
        _sub(element, "related-activity", ref=other, type=THIRD_PARTY)
    return element


def _sub(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, tag, attributes)


def _narrative(parent: etree._Element, text: str, language: str) -> None:
    _sub(parent, "narrative", **{XML_LANG: language}).text = NOT_XML.sub("", text)


def _named(parent: etree._Element, name: str) -> None:
    """An organisation's name: a narrative in the activity's default language (names are not
    translated)."""
    _sub(parent, "narrative").text = NOT_XML.sub("", name)


def _moment(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
