"""DICOM de-identification: the Basic Application Level Confidentiality Profile, by tag.

DICOM PS3.15 Annex E. The profile's Table E.1-1 (``confidentiality_profile.py``) gives an
action per attribute tag; it is applied here at every depth of every sequence. Beyond the table:

- Private attributes (odd groups) are always removed; the Retain Safe Private Option is not
  offered (it needs a list of safe private tags per vendor).
- Attributes the table does not list are kept by the profile. Here, only those that cannot carry
  free text are kept as they are (numbers, code strings, tags, sequences, whose items are
  processed in turn); an unlisted text, date, time, age or person-name attribute is emptied
  unless it is on ``ALLOWED_UNLISTED_TEXT`` (what the viewer needs, and coded-entry fields),
  and an unlisted binary attribute is removed unless it is pixel or lookup-table data. The table
  is finite and editions add rows; this keeps new or unforeseen free text out.
- UIDs the table does not list are replaced too, unless they are standard UIDs (1.2.840.10008.*:
  SOP classes, transfer syntaxes, coding schemes), so that every reference to an instance,
  series, study or frame of reference stays consistent.
- Overlays (groups 60xx) are removed whole: the table removes their data and comments.
- The file meta header is written afresh (our own implementation class UID and version name;
  no source AE title, no private information) and the 128-byte preamble is zeroed.

UIDs are replaced by a keyed hash of the original (``replace_uid``): the same original always
maps to the same new UID within a cohort, and the mapping cannot be reversed without the key.

Combined actions are resolved for the CT Image IOD, the only IOD the importer stores: X where
the combination offers it (X/Z, X/D, X/Z/D; none of those attributes is Type 1 or 2 there), Z
for Z/D (Content Date/Time are Type 2C, Contrast/Bolus Agent is Type 2). X/Z/U* on a sequence
(Referenced Image Sequence, Source Image Sequence) keeps the sequence with its UIDs replaced, so
that references between instances survive. D on a sequence leaves one empty item; Z leaves none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from readerstudy.cohorts.confidentiality_profile import (
    ADDED_BY_2026C,
    STANDARD_EDITION,
    SUPPLEMENT_EDITION,
    TABLE_E_1_1,
)

# UIDs that are standard definitions (SOP classes, transfer syntaxes...), not instances.
STANDARD_UID_ROOT = "1.2.840.10008."
# Our implementation class UID (2.25 + a UUID derived from "readerstudy:cohorts:deidentify").
IMPLEMENTATION_CLASS_UID = "2.25.80572820272129781575674670590254278268"
IMPLEMENTATION_VERSION_NAME = "READERSTUDY_1"


class Option(StrEnum):
    """The option columns of Table E.1-1 (PS3.15 E.3), with their codes from CID 7050."""

    RETAIN_SAFE_PRIVATE = "retain_safe_private"
    RETAIN_UIDS = "retain_uids"
    RETAIN_DEVICE_IDENTITY = "retain_device_identity"
    RETAIN_INSTITUTION_IDENTITY = "retain_institution_identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain_patient_characteristics"
    RETAIN_FULL_DATES = "retain_full_dates"
    RETAIN_MODIFIED_DATES = "retain_modified_dates"
    CLEAN_DESCRIPTORS = "clean_descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean_structured_content"
    CLEAN_GRAPHICS = "clean_graphics"


# PS3.16 CID 7050 "De-identification Method": (code value, code meaning); scheme DCM.
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES: dict[Option, tuple[str, str]] = {
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}
# Options whose C (clean) actions are all on free text, graphics or private tags: cleaning
# those needs knowledge of the content that no table gives, so they are refused.
UNSUPPORTED_OPTIONS = frozenset(
    {
        Option.RETAIN_SAFE_PRIVATE,
        Option.CLEAN_DESCRIPTORS,
        Option.CLEAN_STRUCTURED_CONTENT,
        Option.CLEAN_GRAPHICS,
    }
)

# Unlisted attributes with a text-like VR that are kept verbatim: what the viewer shows or
# needs, and the parts of coded entries (code meanings of standard codes).
ALLOWED_UNLISTED_TEXT = frozenset(
    {
        "Manufacturer",
        "ManufacturerModelName",
        "ConvolutionKernel",
        "FilterType",
        "RescaleType",
        "WindowCenterWidthExplanation",
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "ContextIdentifier",
        "MappingResource",
    }
)
# Unlisted binary attributes that are kept: the image itself and its lookup tables.
ALLOWED_UNLISTED_BINARY = frozenset(
    {
        "PixelData",
        "FloatPixelData",
        "DoubleFloatPixelData",
        "LUTData",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
        "AlphaPaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData",
        "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData",
    }
)
TEXT_VRS = frozenset({"AE", "AS", "DA", "DT", "TM", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW"})
# Kept when unlisted: they hold numbers, defined terms or tags, not free text.
KEPT_VRS = frozenset(
    {"CS", "AT", "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "US or SS"}
)
# Dummy values for D, by VR (each valid for its VR's length limit).
DUMMY_TEXT = "ANONYMIZED"
DUMMY_BY_VR: dict[str, object] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "PN": "ANONYMIZED",
    "DS": "0",
    "IS": "0",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
}


@dataclass(frozen=True)
class _Rule:
    basic: str
    options: dict[str, str]


def _parse_rules() -> tuple[dict[int, _Rule], list[tuple[int, int, _Rule]]]:
    """Exact tags -> rule, and (mask, value, rule) for the repeating groups (50xx, 60xx)."""
    exact: dict[int, _Rule] = {}
    patterns: list[tuple[int, int, _Rule]] = []
    for tag, _name, basic, options in (*TABLE_E_1_1, *ADDED_BY_2026C):
        rule = _Rule(basic, options)
        if "x" in tag:
            mask = int("".join("0" if c == "x" else "F" for c in tag), 16)
            patterns.append((mask, int(tag.replace("x", "0"), 16), rule))
        else:
            exact[int(tag, 16)] = rule
    return exact, patterns


_EXACT_RULES, _PATTERN_RULES = _parse_rules()


def rule_for(tag: int) -> tuple[str, dict[str, str]] | None:
    """The (Basic Profile action, option actions) of Table E.1-1 for ``tag``, or None."""
    rule = _EXACT_RULES.get(tag)
    if rule is None:
        rule = next((r for mask, value, r in _PATTERN_RULES if tag & mask == value), None)
    return None if rule is None else (rule.basic, rule.options)


@dataclass(frozen=True)
class Profile:
    """The Basic Profile plus a set of options, and how it is recorded in each instance."""

    options: frozenset[Option] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        refused = sorted(o.value for o in self.options & UNSUPPORTED_OPTIONS)
        if refused:
            raise ValueError(f"de-identification options not supported: {', '.join(refused)}")
        if {Option.RETAIN_FULL_DATES, Option.RETAIN_MODIFIED_DATES} <= self.options:
            raise ValueError("retain_full_dates and retain_modified_dates exclude each other")

    def action_for(self, tag: int) -> str | None:
        """The action for ``tag`` under this profile; None if the table does not list it.

        An applied option overrides the Basic Profile; where two applied options disagree, C
        (clean) wins over K (keep), being the more protective.
        """
        found = rule_for(tag)
        if found is None:
            return None
        basic, option_actions = found
        chosen = {option_actions[o] for o in self.options if o in option_actions}
        if "C" in chosen:
            return "C"
        if "K" in chosen:
            return "K"
        return basic

    @property
    def method_values(self) -> list[str]:
        """DeidentificationMethod (LO, at most 64 characters a value) for each instance."""
        values = [
            f"DICOM PS3.15 {STANDARD_EDITION}+{SUPPLEMENT_EDITION} Table E.1-1 Basic Profile",
            "Applied at every sequence depth; private tags removed",
            "UIDs replaced by keyed hash; new file meta, zeroed preamble",
            "Unlisted free text emptied unless allow-listed",
        ]
        values += [OPTION_CODES[o][1].removesuffix(" Option")[:64] for o in self._sorted()]
        return values

    @property
    def description(self) -> str:
        """One line for the database (CTSeries.deidentification_method)."""
        return "; ".join(self.method_values)

    def code_sequence(self) -> Sequence:
        """DeidentificationMethodCodeSequence: the profile, then each applied option."""
        items = []
        for value, meaning in [BASIC_PROFILE_CODE, *(OPTION_CODES[o] for o in self._sorted())]:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        return Sequence(items)

    def _sorted(self) -> list[Option]:
        return sorted(self.options, key=lambda o: OPTION_CODES[o][0])


BASIC_PROFILE = Profile()


def replace_uid(original: str, *, key: bytes) -> str:
    """A new UID under the 2.25 root from a keyed hash of the original (deterministic)."""
    digest = hmac.new(key, original.encode("ascii", "replace"), hashlib.sha256).digest()
    # 2.25.<integer> UIDs are at most 64 characters: 128 bits fit.
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def date_shift_days(key: bytes) -> int:
    """Days by which the Retain Modified Dates option moves every date back (1-11 years)."""
    digest = hmac.new(key, b"date shift", hashlib.sha256).digest()
    return 365 + int.from_bytes(digest[:4], "big") % 3650


@dataclass
class _Context:
    profile: Profile
    key: bytes

    @property
    def retain_uids(self) -> bool:
        return Option.RETAIN_UIDS in self.profile.options


def _values(element: DataElement) -> list:
    if element.value is None or element.value == "":
        return []
    return list(element.value) if element.VM > 1 else [element.value]


def _set_values(element: DataElement, values: list) -> None:
    element.value = values if len(values) > 1 else (values[0] if values else None)


def _replace_uids(element: DataElement, context: _Context) -> None:
    _set_values(
        element,
        [
            v if str(v).startswith(STANDARD_UID_ROOT) else replace_uid(str(v), key=context.key)
            for v in _values(element)
        ],
    )


def _empty(element: DataElement) -> None:
    element.value = Sequence() if element.VR == "SQ" else None


def _dummy(ds: Dataset, element: DataElement, context: _Context) -> None:
    if element.VR == "SQ":
        element.value = Sequence([Dataset()])
    elif element.VR == "UI":
        _replace_uids(element, context)
    elif element.VR in DUMMY_BY_VR:
        element.value = DUMMY_BY_VR[element.VR]
    elif element.VR in TEXT_VRS or element.VR == "CS":
        element.value = DUMMY_TEXT
    else:  # binary or tag values: an empty value reveals nothing and is valid for the VR
        element.value = None


def _shift_date(value: str, days: int) -> str | None:
    try:
        shifted = dt.datetime.strptime(value[:8], "%Y%m%d") - dt.timedelta(days=days)
    except ValueError:
        return None
    return shifted.strftime("%Y%m%d") + value[8:]


def _clean(ds: Dataset, element: DataElement, basic: str, context: _Context) -> None:
    """C: dates move back by the keyed shift, times of day stay (intervals are kept).

    Any other value cannot be cleaned mechanically, so the Basic Profile action applies.
    """
    if element.VR in ("DA", "DT"):
        days = date_shift_days(context.key)
        shifted = [_shift_date(str(v), days) for v in _values(element)]
        if all(s is not None for s in shifted):
            _set_values(element, shifted)
        else:
            _empty(element)
    elif element.VR == "TM":
        return
    else:
        _perform(ds, element, basic, context)


def _perform(ds: Dataset, element: DataElement, action: str, context: _Context) -> None:
    if action == "K":
        if element.VR == "SQ":
            _deidentify_items(element.value, context)
    elif action in ("X", "X/Z", "X/D", "X/Z/D"):
        del ds[element.tag]
    elif action in ("Z", "Z/D"):
        _empty(element)
    elif action == "D":
        _dummy(ds, element, context)
    elif action in ("U", "X/Z/U*"):
        if element.VR == "SQ":
            _deidentify_items(element.value, context)
        elif element.VR == "UI":
            _replace_uids(element, context)
        else:
            _empty(element)
    elif action == "C":
        found = rule_for(int(element.tag))
        assert found is not None  # C only comes from a table row
        _clean(ds, element, found[0], context)
    else:
        raise ValueError(f"unknown Table E.1-1 action {action!r} for {element.tag}")


def _unlisted(ds: Dataset, element: DataElement, context: _Context) -> None:
    vr = element.VR
    if vr == "SQ":
        _deidentify_items(element.value, context)
    elif vr == "UI":
        if not context.retain_uids:
            _replace_uids(element, context)
    elif vr in KEPT_VRS:
        return
    elif vr in TEXT_VRS:
        if element.keyword not in ALLOWED_UNLISTED_TEXT:
            _empty(element)
    elif element.keyword not in ALLOWED_UNLISTED_BINARY:
        del ds[element.tag]


def _deidentify_items(items: Iterable[Dataset] | None, context: _Context) -> None:
    for item in items or ():
        _deidentify_one(item, context)


def _deidentify_one(ds: Dataset, context: _Context) -> None:
    for element in list(ds):
        tag: BaseTag = element.tag
        if tag.is_private or tag.element == 0 or 0x6000 <= tag.group <= 0x60FF:
            # Private attributes (and their creators), group lengths (retired, and wrong
            # once values change), overlays: removed.
            del ds[tag]
            continue
        action = context.profile.action_for(int(tag))
        if action is None:
            _unlisted(ds, element, context)
        else:
            _perform(ds, element, action, context)


def _fresh_file_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def deidentify_dataset(
    ds: Dataset, *, pseudonym: str, uid_key: bytes, profile: Profile = BASIC_PROFILE
) -> Dataset:
    """De-identify ``ds`` in place (and its file meta and preamble) and return it.

    PatientName and PatientID become the pseudonym (Z allows a dummy value); the rest follows
    ``profile`` as described in the module docstring. PatientIdentityRemoved,
    DeidentificationMethod and DeidentificationMethodCodeSequence record what was done.
    """
    original_meta = getattr(ds, "file_meta", None)
    transfer_syntax = original_meta.get("TransferSyntaxUID") if original_meta else None
    if transfer_syntax is None:  # a file without meta: keep the encoding it was read with
        implicit = (getattr(ds, "original_encoding", None) or (False, True))[0]
        transfer_syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    _deidentify_one(ds, _Context(profile=profile, key=uid_key))

    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = profile.method_values
    ds.DeidentificationMethodCodeSequence = profile.code_sequence()
    # PS3.3 C.7.6.1.1.7 / PS3.15 E.3.6: whether dates were kept, shifted or removed.
    if Option.RETAIN_FULL_DATES in profile.options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif Option.RETAIN_MODIFIED_DATES in profile.options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"

    ds.file_meta = _fresh_file_meta(ds, transfer_syntax)
    ds.preamble = b"\0" * 128
    return ds
