"""The coverage page: activities per State and theme, domain or type in a region and year, as
a heat map and as CSV."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from app.api.exports import download
from app.core import i18n, timeutil, vocab
from app.db.session import SessionDep
from app.errors import ValidationFailed
from app.reports import service as reports
from app.web import forms
from app.web.auth import ViewerDep
from app.web.render import language, render

router = APIRouter(include_in_schema=False)


@router.get("/coverage", response_class=HTMLResponse)
def coverage_page(
    request: Request,
    session: SessionDep,
    reader: ViewerDep,
    region: Annotated[str, Query(max_length=3)] = "419",
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    by: Annotated[str, Query(pattern="^(theme|domain|type)$")] = "theme",
) -> HTMLResponse:
    reader.require()
    chosen_year = year or timeutil.today().year
    report = _coverage(session, region, chosen_year, by)
    counts = {(c.country, c.key): c.count for c in report.cells}
    top = max(counts.values(), default=0) or 1
    lang = language(request)
    ordered = sorted(report.countries, key=lambda code: i18n.country(code, lang))
    return render(
        request,
        reader,
        "coverage.html",
        report=report,
        ordered=ordered,
        counts=counts,
        heat=lambda n: 0 if n == 0 else min(4, 1 + (3 * n) // top),
        region_code=region,
        year=chosen_year,
        by=by,
        regions=forms.regions(),
        filter_name={"theme": "theme", "domain": "domain", "type": "type"}[by],
    )


def _coverage(session: Session, region: str, year: int, by: str) -> Any:
    if not vocab.region_states(region):
        raise ValidationFailed.on("region", f"unknown region {region!r}")
    return reports.coverage(
        session,
        start=date(year, 1, 1),
        end=date(year, 12, 31),
        region=region,
        by=by,  # type: ignore[arg-type]
    )


@router.get("/coverage.csv")
def coverage_csv(
    session: SessionDep,
    reader: ViewerDep,
    region: Annotated[str, Query(max_length=3)] = "419",
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    by: Annotated[str, Query(pattern="^(theme|domain|type)$")] = "theme",
) -> Response:
    """The coverage page's matrix as CSV, for the signed-in reader."""
    reader.require()
    report = _coverage(session, region, year or timeutil.today().year, by)
    return download(reports.to_csv(report), "text/csv; charset=utf-8", "coverage.csv")
