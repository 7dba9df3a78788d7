"""GET /exports/activities.csv, .xlsx and .iati.xml: the list API's filters, a file to
download; and the vocabulary of themes the IATI export's sectors name."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from app.api.activities import ListFilters
from app.api.caller import OptionalPrincipal
from app.api.feeds import base_url
from app.core import i18n, vocab
from app.core.i18n import Language
from app.db.session import SessionDep
from app.exports import service

router = APIRouter(tags=["exports"])

HxlQuery = Annotated[
    bool, Query(description="add a row of HXL hashtags under the header (#activity+name, ...)")
]
LangQuery = Annotated[
    Language,
    Query(
        description="the language of the readable-name columns (theme_names, country_names, "
        f"region_names): {', '.join(i18n.LANGUAGES)}; codes stay codes"
    ),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(body: bytes, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/exports/activities.csv", response_class=Response)
def export_activities_csv(
    session: SessionDep,
    viewer: OptionalPrincipal,
    filters: ListFilters,
    hxl: HxlQuery = False,
    lang: LangQuery = "en",
) -> Response:
    """One row per activity (UTF-8 with a byte order mark, comma-separated); without a key,
    public activities only."""
    items = service.activities(session, filters, viewer=viewer)
    body = service.to_csv(items, hxl=hxl, language=lang)
    return download(body, "text/csv; charset=utf-8", "activities.csv")


@router.get("/exports/activities.xlsx", response_class=Response)
def export_activities_xlsx(
    session: SessionDep,
    viewer: OptionalPrincipal,
    filters: ListFilters,
    hxl: HxlQuery = False,
    lang: LangQuery = "en",
) -> Response:
    """The same as the CSV export, as a workbook with one sheet, "activities"."""
    items = service.activities(session, filters, viewer=viewer)
    return download(service.to_xlsx(items, hxl=hxl, language=lang), XLSX, "activities.xlsx")


THEMES_PATH = "/api/v1/exports/iati-themes"


@router.get("/exports/activities.iati.xml", response_class=Response)
def export_activities_iati(
    request: Request, session: SessionDep, viewer: OptionalPrincipal, filters: ListFilters
) -> Response:
    """The same activities as an IATI activity file (IATI Standard 2.03); docs/api.md maps
    its elements to the activities' fields.  No activity is a 404: the schema wants one."""
    items = service.activities(session, filters, viewer=viewer)
    themes_uri = base_url(request).rstrip("/") + THEMES_PATH
    body = service.to_iati(session, items, viewer=viewer, themes_uri=themes_uri)
    return download(body, "application/xml", "activities.iati.xml")


class Theme(BaseModel):
    code: str
    name: str


class ThemeVocabulary(BaseModel):
    name: str
    codes: list[Theme]


@router.get(THEMES_PATH.removeprefix("/api/v1"), response_model=ThemeVocabulary)
def iati_themes(lang: LangQuery = "en") -> ThemeVocabulary:
    """The 1540 themes: the vocabulary (99, the reporting organisation's own) of the IATI
    export's sectors, which name this page as their vocabulary-uri."""
    codes = [Theme(code=theme, name=i18n.label(theme, lang)) for theme in vocab.THEMES]
    return ThemeVocabulary(name="UNSCR 1540 themes (assistcal)", codes=codes)
