"""Reference data bundled with Liaison, loaded once (see liaison/reference/README.md)."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from liaison.model.customs import CommodityArea
from liaison.validation import known_place

__all__ = ["CountryInfo", "HsChapter", "country_info", "hs_chapter", "place"]


@dataclass(frozen=True)
class CountryInfo:
    wco_region: str
    rilo: str | None


@dataclass(frozen=True)
class HsChapter:
    chapter: str
    description: str
    area: CommodityArea


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("liaison.reference").joinpath(name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def _countries() -> dict[str, CountryInfo]:
    return {
        r["alpha2"]: CountryInfo(r["wco_region"], r["rilo"] or None) for r in _rows("countries.csv")
    }


@functools.cache
def _chapters() -> dict[str, HsChapter]:
    return {
        r["chapter"]: HsChapter(r["chapter"], r["description"], CommodityArea(r["area"]))
        for r in _rows("hs_chapters.csv")
    }


def country_info(alpha2: str) -> CountryInfo | None:
    return _countries().get(alpha2)


def hs_chapter(hs_code: str | None) -> HsChapter | None:
    return _chapters().get(hs_code[:2]) if hs_code else None


def place(unlocode: str | None) -> tuple[str, tuple[str, ...]] | None:
    return known_place(unlocode) if unlocode else None
