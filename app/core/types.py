"""Validated value types for API input: each names its rule in the error it raises."""

from typing import Annotated

from pydantic import AfterValidator, HttpUrl, StringConstraints, TypeAdapter

from app.core import vocab

_http_url: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def _country(value: str) -> str:
    code = value.strip().upper()
    if not vocab.is_country(code):
        raise ValueError(f"unknown country code {value!r}; use ISO 3166-1 alpha-2, e.g. 'MX'")
    return code


def _region(value: str) -> str:
    code = value.strip()
    if code.isascii() and code.isdigit():
        code = f"{int(code):03d}"
    if not vocab.is_region(code):
        raise ValueError(f"unknown region code {value!r}; use a UN M49 region, e.g. '419'")
    return code


def _language(value: str) -> str:
    code = value.strip().lower()
    if code not in vocab.language_codes():
        raise ValueError(f"unknown language code {value!r}; use ISO 639-1, e.g. 'es'")
    return code


def _time_zone(value: str) -> str:
    if value not in vocab.time_zones():
        raise ValueError(f"unknown time zone {value!r}; use an IANA name, e.g. 'America/Lima'")
    return value


def _url(value: str) -> str:
    _http_url.validate_python(value)
    return value


CountryCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(_country)]
RegionCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(_region)]
LanguageCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(_language)]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)]
TimeOfDay = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ExternalRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Url = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_url)]
