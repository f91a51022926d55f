"""DICOM de-identification following the Basic Application Level Confidentiality Profile.

DICOM PS3.15 Annex E, Table E.1-1: attributes that identify the patient, the institution or
staff are removed or emptied, private tags are dropped, and every instance UID is replaced by a
keyed hash of the original (so the same original always maps to the same new UID, which keeps
references consistent, but the mapping cannot be reversed without the key).
"""

from __future__ import annotations

import hashlib
import hmac

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

# Removed outright (profile action X) or for which the profile allows removal.
REMOVE = (
    "PatientBirthTime",
    "PatientAddress",
    "OtherPatientIDs",
    "OtherPatientNames",
    "OtherPatientIDsSequence",
    "PatientBirthName",
    "PatientMotherBirthName",
    "MedicalRecordLocator",
    "PatientTelephoneNumbers",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "MilitaryRank",
    "BranchOfService",
    "CountryOfResidence",
    "RegionOfResidence",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionCodeSequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence",
    "OperatorsName",
    "OperatorIdentificationSequence",
    "RequestingPhysician",
    "RequestAttributesSequence",
    "StationName",
    "DeviceSerialNumber",
    "ImageComments",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "RequestedProcedureDescription",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "IssuerOfPatientID",
    "PatientInsurancePlanCodeSequence",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "AdmittingDiagnosesDescription",
    "DerivationDescription",
    "CurrentPatientLocation",
    "PatientState",
    "ResponsiblePerson",
    "ResponsibleOrganization",
    "ContentCreatorName",
    "PatientReligiousPreference",
)
# Kept but emptied (action Z: type 2 attributes that must be present).
EMPTY = (
    "PatientBirthDate",
    "PatientSex",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ContentDate",
    "ContentTime",
)
# UIDs that are standard definitions, not instances: never replaced.
STANDARD_UID_ROOT = "1.2.840.10008."
METHOD = "PS3.15 E.1 Basic Application Confidentiality Profile"


def replace_uid(original: str, *, key: bytes) -> str:
    """A new UID under the 2.25 root from a keyed hash of the original (deterministic)."""
    digest = hmac.new(key, original.encode("ascii", "replace"), hashlib.sha256).digest()
    # 2.25.<integer> UIDs are at most 64 characters: 128 bits fit.
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _replace_uids_and_names(ds: Dataset, *, key: bytes) -> None:
    for element in list(ds):
        if element.VR == "SQ":
            for item in element.value or Sequence():
                _replace_uids_and_names(item, key=key)
        elif element.VR == "UI" and element.value:
            values = element.value if element.VM > 1 else [element.value]
            replaced = [
                v if str(v).startswith(STANDARD_UID_ROOT) else replace_uid(str(v), key=key)
                for v in values
            ]
            element.value = replaced if element.VM > 1 else replaced[0]
        elif element.VR == "PN" and element.keyword != "PatientName":
            del ds[element.tag]


def deidentify_dataset(ds: Dataset, *, pseudonym: str, uid_key: bytes) -> Dataset:
    """De-identify ``ds`` in place and return it.

    PatientName and PatientID become the pseudonym; identifying attributes are removed or
    emptied; private tags are dropped; every instance UID (in nested sequences too) is replaced
    by a keyed hash; PatientIdentityRemoved and DeidentificationMethod record what was done.
    """
    ds.remove_private_tags()
    for keyword in REMOVE:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword in EMPTY:
        if keyword in ds:
            setattr(ds, keyword, "")
    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    _replace_uids_and_names(ds, key=uid_key)
    if getattr(ds, "file_meta", None) is not None and "MediaStorageSOPInstanceUID" in ds.file_meta:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    return ds
