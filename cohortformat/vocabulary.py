"""The words of the cohort import format, defined once.

Every value a ``manifest.csv`` column may hold, with the aliases the importer also accepts and
the label shown to people. The importer (``readerstudy.cohorts.manifest``) parses with these
vocabularies, the Django model choices are built from them, and the synthetic generator writes
only their canonical values. Matching is case-insensitive; stored and written values are the
canonical ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = [
    "ENE_GRADES",
    "ENE_MICRO_MAX_MM",
    "HPV_STATUS",
    "NECK_LEVEL",
    "N_STAGE",
    "PRIMARY_SITE",
    "REFERENCE",
    "REFERENCE_SOURCE",
    "SEX",
    "SIDE",
    "T_STAGE",
    "Term",
    "UnknownValue",
    "Vocabulary",
]


class UnknownValue(ValueError):
    """A value that is neither a canonical value nor an alias of the vocabulary."""


@dataclass(frozen=True)
class Term:
    """One allowed value: ``name`` (a Python identifier, the enum member name), ``value`` (as
    written in manifest.csv and stored), ``label`` (as shown to people)."""

    name: str
    value: str
    label: str


@dataclass(frozen=True)
class Vocabulary:
    """The allowed values of one manifest column, in their canonical order."""

    column: str
    terms: tuple[Term, ...]
    #: other spellings accepted on import -> canonical value
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: the value a blank cell means, where a blank is allowed and means something
    default: str | None = None

    def __post_init__(self) -> None:
        values = [t.value for t in self.terms]
        if len(set(v.lower() for v in values)) != len(values):
            raise ValueError(f"{self.column}: duplicate values {values}")
        for alias, target in self.aliases.items():
            if target not in values:
                raise ValueError(f"{self.column}: alias {alias!r} points at unknown {target!r}")
            if alias.lower() in (v.lower() for v in values):
                raise ValueError(f"{self.column}: alias {alias!r} shadows a value")
        if self.default is not None and self.default not in values:
            raise ValueError(f"{self.column}: default {self.default!r} is not a value")

    @property
    def values(self) -> tuple[str, ...]:
        """Canonical values, in order."""
        return tuple(t.value for t in self.terms)

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every spelling the importer accepts (values and aliases), sorted."""
        return tuple(sorted({*self.values, *self.aliases}))

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def parse(self, text: str) -> str:
        """The canonical value of ``text`` (a value or an alias, any case, outer blanks ignored).

        Raises :class:`UnknownValue` listing every accepted spelling.
        """
        key = text.strip().lower()
        for term in self.terms:
            if term.value.lower() == key:
                return term.value
        for alias, target in self.aliases.items():
            if alias.lower() == key:
                return target
        raise UnknownValue(f"unknown value {text!r} (expected one of: {', '.join(self.accepted)})")


def _terms(*triples: tuple[str, str, str]) -> tuple[Term, ...]:
    return tuple(Term(name, value, label) for name, value, label in triples)


#: The reference standard of a node, and a reader's call: 001's three classes.
REFERENCE = Vocabulary(
    "reference",
    _terms(
        ("BENIGN", "benign", "Benign"),
        ("METASTASIS", "metastasis", "Metastasis without ENE"),
        ("ENE", "ene", "Metastasis with ENE"),
    ),
    aliases={"metastasis_without_ene": "metastasis", "metastasis_with_ene": "ene"},
)

#: Neck levels (AAO-HNS / AJCC): I-VI with the a/b sublevels.
NECK_LEVEL = Vocabulary(
    "level",
    _terms(
        ("I", "I", "Level I"),
        ("IA", "IA", "Level IA"),
        ("IB", "IB", "Level IB"),
        ("II", "II", "Level II"),
        ("IIA", "IIA", "Level IIA"),
        ("IIB", "IIB", "Level IIB"),
        ("III", "III", "Level III"),
        ("IV", "IV", "Level IV"),
        ("V", "V", "Level V"),
        ("VA", "VA", "Level VA"),
        ("VB", "VB", "Level VB"),
        ("VI", "VI", "Level VI"),
    ),
)

SIDE = Vocabulary(
    "side",
    _terms(("LEFT", "left", "Left"), ("RIGHT", "right", "Right")),
    aliases={"l": "left", "r": "right"},
)

SEX = Vocabulary("sex", _terms(("MALE", "M", "Male"), ("FEMALE", "F", "Female")))

PRIMARY_SITE = Vocabulary(
    "primary_site",
    _terms(
        ("LARYNX", "larynx", "Larynx"),
        ("HYPOPHARYNX", "hypopharynx", "Hypopharynx"),
        ("ORAL_CAVITY", "oral_cavity", "Oral cavity"),
        ("OROPHARYNX", "oropharynx", "Oropharynx"),
        ("OTHER", "other", "Other"),
    ),
)

#: Pathologic T stage (AJCC 8th edition).
T_STAGE = Vocabulary(
    "pt_stage",
    _terms(*((s.upper(), s, s) for s in ("T1", "T2", "T3", "T4", "T4a", "T4b", "Tx"))),
)

#: Pathologic N stage (AJCC 8th edition; see ``synthetic.staging`` for the rules).
N_STAGE = Vocabulary(
    "pn_stage",
    _terms(
        *(
            (s.upper(), s, s)
            for s in ("N0", "N1", "N2", "N2a", "N2b", "N2c", "N3", "N3a", "N3b", "Nx")
        )
    ),
)

HPV_STATUS = Vocabulary(
    "hpv_status",
    _terms(
        ("POSITIVE", "positive", "Positive"),
        ("NEGATIVE", "negative", "Negative"),
        ("UNKNOWN", "unknown", "Unknown"),
    ),
    default="unknown",
)

#: How the reference standard was established.
REFERENCE_SOURCE = Vocabulary(
    "reference_source",
    _terms(
        ("PATHOLOGY", "pathology", "Pathology"),
        ("CONSENSUS", "consensus", "Expert consensus"),
        ("IMAGING_FOLLOW_UP", "imaging_follow_up", "Imaging follow-up"),
    ),
    default="pathology",
)

#: ENE grades (``ene_grade``), and the extent up to which ENE is microscopic (``ene_extent_mm``:
#: micro <= 2 mm, macro > 2 mm).
ENE_GRADES: tuple[int, ...] = (1, 2, 3, 4)
ENE_MICRO_MAX_MM = 2.0
