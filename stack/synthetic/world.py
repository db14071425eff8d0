"""The invented world the synthetic traffic happens in: goods, places, routes, agencies, names.

Values follow public descriptions of real seizures (commodities, concealment
methods, ports, airports); every person and company name is made up from
syllables so that it looks invented.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from liaison.model.customs import CommodityArea, DetectionMethod, QuantityUnit

__all__ = [
    "AGENCIES",
    "AIRPORTS",
    "COMMODITIES",
    "CONCEALMENTS",
    "DETECTIONS",
    "ORIGINS",
    "PORTS",
    "Commodity",
    "invented_company",
    "invented_person_name",
]


@dataclass(frozen=True)
class Commodity:
    description: str
    hs_code: str
    area: CommodityArea
    unit: QuantityUnit
    low: float  # a typical seizure's size, in unit
    high: float


COMMODITIES: tuple[Commodity, ...] = (
    Commodity("cocaine hydrochloride", "293999", CommodityArea.DRUGS, QuantityUnit.KGM, 2, 900),
    Commodity("herbal cannabis", "121190", CommodityArea.DRUGS, QuantityUnit.KGM, 5, 2000),
    Commodity("cannabis resin", "130190", CommodityArea.DRUGS, QuantityUnit.KGM, 5, 1500),
    Commodity("khat", "121190", CommodityArea.DRUGS, QuantityUnit.KGM, 20, 600),
    Commodity("methamphetamine", "293999", CommodityArea.DRUGS, QuantityUnit.KGM, 1, 300),
    Commodity(
        "new psychoactive substances", "292429", CommodityArea.DRUGS, QuantityUnit.GRM, 50, 9000
    ),
    Commodity(
        "precursor chemicals (BMK)", "291430", CommodityArea.PRECURSORS, QuantityUnit.LTR, 50, 5000
    ),
    Commodity("cigarettes", "240220", CommodityArea.TOBACCO, QuantityUnit.KGM, 100, 12000),
    Commodity("ivory tusks", "050710", CommodityArea.WILDLIFE, QuantityUnit.KGM, 5, 800),
    Commodity("pangolin scales", "050790", CommodityArea.WILDLIFE, QuantityUnit.KGM, 10, 4000),
    Commodity("live tortoises", "010620", CommodityArea.WILDLIFE, QuantityUnit.H87, 5, 600),
    Commodity("rosewood logs", "440399", CommodityArea.TIMBER, QuantityUnit.MTQ, 5, 200),
    Commodity(
        "counterfeit face masks",
        "630790",
        CommodityArea.COUNTERFEITS,
        QuantityUnit.H87,
        1000,
        500000,
    ),
    Commodity(
        "counterfeit test kits", "382200", CommodityArea.COUNTERFEITS, QuantityUnit.H87, 100, 50000
    ),
    Commodity(
        "pregabalin capsules", "300490", CommodityArea.MEDICINES, QuantityUnit.H87, 500, 200000
    ),
    Commodity(
        "archaeological coins", "970510", CommodityArea.CULTURAL_GOODS, QuantityUnit.H87, 3, 400
    ),
    Commodity("paintings", "970110", CommodityArea.CULTURAL_GOODS, QuantityUnit.H87, 1, 12),
    Commodity("pistols", "930200", CommodityArea.WEAPONS, QuantityUnit.H87, 1, 60),
    Commodity("ammunition", "930630", CommodityArea.WEAPONS, QuantityUnit.H87, 50, 20000),
    Commodity("euro banknotes", "490700", CommodityArea.CASH, QuantityUnit.NAR, 200, 20000),
    Commodity("gold bars", "710812", CommodityArea.PRECIOUS_METALS, QuantityUnit.KGM, 1, 80),
)

CONCEALMENTS = (
    "in luggage",
    "on the body",
    "swallowed",
    "in the truck engine",
    "behind the bulkhead",
    "in the cab roof",
    "mixed into banana cargo",
    "inside food packaging",
    "misdeclared goods",
)
DETECTIONS = (
    DetectionMethod.RISK_PROFILING,
    DetectionMethod.INTELLIGENCE,
    DetectionMethod.RANDOM_CHECK,
    DetectionMethod.XRAY_SCANNER,
    DetectionMethod.DETECTOR_DOG,
    DetectionMethod.PHYSICAL_EXAMINATION,
    DetectionMethod.DATABASE_HIT,
)
# Sea ports and airports as (UN/LOCODE, country); airports also carry an airline prefix.
PORTS = (
    ("NLRTM", "NL"),
    ("BEANR", "BE"),
    ("DEHAM", "DE"),
    ("ESALG", "ES"),
    ("ESVLC", "ES"),
    ("FRLEH", "FR"),
    ("GRPIR", "GR"),
    ("ITGIT", "IT"),
)
AIRPORTS = (
    ("NLAMS", "NL", "KL"),
    ("FRCDG", "FR", "AF"),
    ("DEFRA", "DE", "LH"),
    ("TRIST", "TR", "TK"),
)
ORIGINS = ("EC", "CO", "BR", "PE", "NG", "CN", "AE", "TR", "SG", "IN", "TH", "PA", "MA", "ZA")
AGENCIES = {
    "NL": "NL Customs, Rotterdam port team",
    "BE": "BE Customs, Antwerp investigations",
    "DE": "DE Zoll, Hamburg",
    "ES": "ES Agencia Tributaria, Vigilancia Aduanera",
    "FR": "FR DGDDI, Le Havre",
    "GR": "GR Customs, Piraeus",
    "IT": "IT Agenzia Dogane, Gioia Tauro",
    "TR": "TR Customs Enforcement, Istanbul",
}

_ONSETS = ("Br", "Qu", "Zel", "Vor", "Tamb", "Oxl", "Mir", "Fenn", "Drav", "Ul", "Kest", "Yor")
_NUCLEI = ("a", "e", "i", "o", "u", "ae", "io", "y")
_CODAS = ("ndle", "rix", "vane", "thorp", "mble", "zek", "lorn", "quist", "dorf", "x")
_GIVEN = ("Testa", "Probo", "Ficta", "Nemo", "Ipsa", "Dummo", "Placida", "Exempla", "Nulla", "Varo")


def invented_person_name(rng: random.Random) -> tuple[str, str]:
    """(family name, given names): plainly made up, never a real person's."""
    family = rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
    return family, rng.choice(_GIVEN)


def invented_company(rng: random.Random) -> str:
    stem = rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS)
    return (
        f"{stem} {rng.choice(('Trading', 'Logistics', 'Imports', 'Freight', 'Fresh Produce'))} "
        + (rng.choice(("BV", "NV", "GmbH", "SL", "SARL", "Ltd")))
    )
