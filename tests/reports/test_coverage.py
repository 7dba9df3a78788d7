"""GET /reports/coverage: every State of a region, what is planned for it, and the gaps."""

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import KeyMaker
from tests.helpers import auth, submit

API = "/api/v1"


def coverage(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"{API}/reports/coverage", params=params, headers=auth(key))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def cell(report: dict[str, Any], country: str, key: str) -> dict[str, Any]:
    return next(c for c in report["cells"] if (c["country"], c["key"]) == (country, key))


def test_coverage_counts_regional_activities_and_shows_gaps(
    client: TestClient, make_key: KeyMaker
) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    caribbean = submit(
        client,
        provider,
        title="Caribbean export control seminar",
        themes=["export_control"],
        countries=[],
        regions=["029"],
        start_date="2024-05-06",
        end_date="2024-05-08",
    )
    peru = submit(
        client,
        provider,
        title="Taller de legislación",
        themes=["legislation"],
        domains=["chemical"],
        activity_type="legislative_assistance",
        countries=["PE"],
        start_date="2024-12-30",
        end_date="2025-01-02",
    )
    submit(
        client,
        provider,
        title="Next year",
        countries=["HN"],
        start_date="2025-02-01",
        end_date="2025-02-01",
    )
    cancelled = submit(
        client,
        provider,
        title="Cancelled",
        countries=["HN"],
        start_date="2024-03-01",
        end_date="2024-03-01",
        status="cancelled",
    )
    withdrawn = submit(
        client,
        provider,
        title="Withdrawn",
        countries=["HN"],
        start_date="2024-03-02",
        end_date="2024-03-02",
    )
    client.delete(f"{API}/activities/{withdrawn['id']}", headers=auth(provider))

    report = coverage(
        client, coordinator, region="419", **{"from": "2024-01-01", "to": "2024-12-31"}
    )
    assert report["period"] == {"from": "2024-01-01", "to": "2024-12-31"}
    assert (report["region"], report["by"]) == ("419", "theme")
    assert len(report["countries"]) == 33
    assert report["country_names"]["TT"] == "Trinidad and Tobago"
    # The Caribbean activity counts for Trinidad and Tobago, not for Peru or Honduras.
    assert cell(report, "TT", "export_control") == {
        "country": "TT",
        "key": "export_control",
        "count": 1,
        "activity_ids": [caribbean["id"]],
    }
    assert cell(report, "PE", "export_control")["count"] == 0
    assert cell(report, "PE", "legislation")["activity_ids"] == [peru["id"]]  # it overlaps 2024
    assert report["totals"]["TT"] == 1
    # Honduras has only a cancelled, a withdrawn and a next year's activity: nothing planned.
    assert report["totals"]["HN"] == 0
    assert cancelled["id"] not in str(report["cells"])
    assert {"country": "HN", "key": None} in report["gaps"]
    assert {"country": "HN", "key": "export_control"} in report["gaps"]
    assert {"country": "PE", "key": "export_control"} in report["gaps"]
    assert {"country": "TT", "key": None} not in report["gaps"]
    assert {"country": "TT", "key": "export_control"} not in report["gaps"]
    assert len(report["cells"]) == 33 * 10

    by_domain = coverage(client, provider, region="419", by="domain", **{"from": "2024-01-01"})
    assert by_domain["keys"] == ["nuclear", "chemical", "biological", "delivery_means"]
    assert cell(by_domain, "PE", "chemical")["count"] == 1
    assert cell(by_domain, "PE", "nuclear")["count"] == 0
    # Without domains an activity is cross-cutting: it counts for every domain.
    assert cell(by_domain, "TT", "nuclear")["count"] == 1
    by_type = coverage(client, provider, region="029", by="type", **{"from": "2024-01-01"})
    assert "PE" not in by_type["countries"]
    assert cell(by_type, "JM", "workshop")["activity_ids"] == [caribbean["id"]]


def test_a_confirmed_duplicate_does_not_count(client: TestClient, make_key: KeyMaker) -> None:
    provider = make_key("UNLIREC", "provider")
    coordinator = make_key("OAS-CICTE", "coordinator")
    first = submit(
        client,
        provider,
        title="National workshop on export control",
        countries=["TT"],
        themes=["export_control"],
        start_date="2024-03-10",
        end_date="2024-03-12",
    )
    second = submit(
        client,
        provider,
        title="Taller nacional sobre control de exportaciones",
        countries=["TT"],
        themes=["export_control"],
        language="es",
        start_date="2024-03-10",
        end_date="2024-03-12",
    )
    [finding] = [f for f in second["findings"] if f["kind"] == "duplicate"]
    before = coverage(
        client, coordinator, region="029", **{"from": "2024-01-01", "to": "2024-12-31"}
    )
    assert cell(before, "TT", "export_control")["count"] == 2
    decided = client.post(
        f"{API}/findings/{finding['id']}/decision",
        json={"decision": "confirm", "canonical_id": first["id"]},
        headers=auth(coordinator),
    )
    assert decided.status_code == 200, decided.text
    after = coverage(
        client, coordinator, region="029", **{"from": "2024-01-01", "to": "2024-12-31"}
    )
    assert cell(after, "TT", "export_control")["activity_ids"] == [first["id"]]


def test_coverage_as_csv_and_bad_input(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("UNLIREC", "provider")
    submit(
        client,
        key,
        countries=["TT"],
        themes=["reporting"],
        start_date="2024-05-01",
        end_date="2024-05-01",
    )
    answer = client.get(
        f"{API}/reports/coverage",
        params={"region": "029", "from": "2024-01-01", "to": "2024-12-31", "format": "csv"},
        headers=auth(key),
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    trinidad = next(row for row in rows if row["country"] == "TT")
    assert (trinidad["name"], trinidad["reporting"], trinidad["total"]) == (
        "Trinidad and Tobago",
        "1",
        "1",
    )
    assert next(row for row in rows if row["country"] == "JM")["total"] == "0"

    assert client.get(f"{API}/reports/coverage").status_code == 401
    for params, field in (
        ({"region": "999"}, "region"),
        ({"by": "colour"}, "by"),
        ({"from": "2024-05-01", "to": "2024-01-01"}, "to"),
        ({"from": "not a date"}, "from"),
    ):
        bad = client.get(f"{API}/reports/coverage", params=params, headers=auth(key))
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"]["details"][0]["field"] == field
