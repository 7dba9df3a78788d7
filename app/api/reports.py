"""GET /reports/coverage: what is planned for each State of a region, and the gaps."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from app.api.caller import CurrentPrincipal
from app.api.exports import download
from app.core import timeutil
from app.core.types import RegionCode
from app.db.session import SessionDep
from app.reports import service
from app.reports.models import CoverageBy, CoverageReport

router = APIRouter(tags=["reports"])


def year_bounds(start: date | None, end: date | None) -> tuple[date, date]:
    """The period asked for; by default the current calendar year."""
    today = timeutil.today()
    return start or date(today.year, 1, 1), end or date(today.year, 12, 31)


@router.get(
    "/reports/coverage",
    response_model=CoverageReport,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_coverage_report(
    session: SessionDep,
    _caller: CurrentPrincipal,
    region: Annotated[
        RegionCode | None, Query(description="M49 code; every State if absent")
    ] = None,
    start: Annotated[date | None, Query(alias="from", description="default: 1 January")] = None,
    end: Annotated[date | None, Query(alias="to", description="default: 31 December")] = None,
    by: Annotated[CoverageBy, Query()] = "theme",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> CoverageReport | Response:
    """For every member State of the region (those with nothing planned too), how many
    activities each theme, domain or type has in the period, the activities behind each
    count, and the gaps: States with no activity at all (key null) and State-key pairs with
    none.  Regional activities count for each State they cover; withdrawn, cancelled and
    confirmed-duplicate activities do not.  `format=csv`: the same matrix as a spreadsheet."""
    first, last = year_bounds(start, end)
    report = service.coverage(session, start=first, end=last, region=region, by=by)
    if format == "csv":
        return download(service.to_csv(report), "text/csv; charset=utf-8", "coverage.csv")
    return report
