"""Acquisition and cohort profiles of the synthetic neck-CT generator.

A *profile* bundles everything that differs between the two kinds of cohort the
reader study needs, following the DeepENE paper (source document 001):

``internal``
    Modelled on 001's internal dataset (Zhongshan Hospital, 172 patients, 1011
    nodes; Table 1 and Results "Lymph Node Characteristics"): node classes 68.3 %
    benign / 22.4 % metastasis without ENE / 9.3 % with ENE, 5.9 nodes per
    patient, median short axis 6 / 10 / 22 mm, mostly advanced ENE (001: 81 % of
    the ENE nodes of its "easy" external set 1 were grade 3, i.e. beyond the
    perinodal fat). Thin 3 mm slices, a smooth soft-tissue kernel and good
    contrast enhancement: ENE is comparatively easy to see.

``external``
    Modelled on 001's external test set 2 (Chang Gung, 25 patients, 194 nodes;
    Table 2): 83.0 % / 5.2 % / 11.9 %, 7.8 nodes per patient, median short axis
    6 / 8 / 11 mm, ENE "early-stage ... with more subtle CT findings", on which
    001's readers fell from AUC 0.85 to 0.66. Thicker 5 mm slices, a sharper
    kernel with more noise, a later and weaker contrast phase, and a grade mix
    dominated by microscopic ENE: the ENE signs are genuinely harder to see.

The scanner parameters (manufacturer, kernel, kVp, mA, noise) are plausible
values for routine contrast-enhanced neck CT; 001 only says that its scans had
3-5 mm sections (Introduction), so they are modelling choices, not data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cohortformat import vocabulary

__all__ = [
    "CLASSES",
    "PROFILES",
    "Profile",
    "SizeModel",
    "get_profile",
    "parse_prevalence",
]

#: Node reference classes, in the order used by ``--prevalence benign,meta,ene``.
CLASSES: tuple[str, ...] = vocabulary.REFERENCE.values


@dataclass(frozen=True)
class SizeModel:
    """Log-normal short-axis distribution of one node class (millimetres).

    ``median_mm`` is the target median short-axis diameter (001, Results);
    ``sigma`` the log-scale spread; values are clipped to ``[min_mm, max_mm]``,
    the ranges 001 reports.  ``tail_fraction`` of the nodes are drawn with
    ``tail_sigma`` instead: the few enlarged reactive (benign) nodes that give
    001's benign range its long upper tail (up to 3.0 cm internally).
    """

    median_mm: float
    sigma: float
    min_mm: float
    max_mm: float
    tail_fraction: float = 0.0
    tail_sigma: float = 0.0


@dataclass(frozen=True)
class Profile:
    """Everything that distinguishes one synthetic cohort profile from another."""

    name: str
    code: int  # mixed into every random stream and UID of the profile
    patient_prefix: str
    cohort_label: str
    institution: str
    # --- scanner and reconstruction (DICOM header and image physics) ---
    manufacturer: str
    model_name: str
    software_version: str
    station_name: str
    convolution_kernel: str
    kvp: float
    tube_current_ma: tuple[int, int]
    slice_thickness_mm: float
    pixel_spacing_mm: tuple[float, float]  # range drawn per patient (0.5-0.8 mm)
    min_slices: int
    coverage: tuple[float, float]  # anatomical t range: 0 skull base .. 1 clavicles
    #: Noise SD (HU) of a uniform water-equivalent region of a standard-size neck.
    noise_sd_hu: float
    #: Noise power spectrum shape of filtered back projection: NPS(f) ~ f * W(f)^2
    #: with a Gaussian apodisation W whose 1/e point is ``nps_cutoff`` x Nyquist.
    nps_cutoff: float
    #: In-plane system blur (Gaussian PSF sigma, mm): partial-volume smoothing.
    psf_sigma_mm: float
    pixel_representation: int  # 0 unsigned (Siemens style), 1 signed (GE style)
    bits_stored: int
    # --- contrast phase (HU of the enhancing tissues) ---
    artery_hu: tuple[float, float]  # mean, between-patient SD
    vein_hu: tuple[float, float]
    thyroid_hu: tuple[float, float]
    node_hu: dict[str, float]  # viable nodal tissue per class
    contrast_delay_s: int
    # --- cohort composition ---
    default_prevalence: tuple[float, float, float]
    nodes_per_patient: float
    sizes: dict[str, SizeModel]
    ene_grade_probs: tuple[float, float, float, float]
    age: tuple[float, float]
    male_fraction: float
    primary_site_probs: dict[str, float]
    t_stage_probs: dict[str, float]
    hpv_probs: dict[str, float]
    study_years: tuple[int, int]
    level_weights: dict[str, float] = field(
        default_factory=lambda: {
            # 001 (Introduction): laryngeal/hypopharyngeal cancer drains to
            # levels II-IV, unlike oral cancer (levels I-II).
            "II": 0.36,
            "III": 0.30,
            "IV": 0.20,
            "V": 0.06,
            "VI": 0.06,
            "IB": 0.02,
        }
    )

    def __post_init__(self) -> None:
        """Every value the profile can write into a manifest is one of the import format's."""
        checks = (
            (vocabulary.REFERENCE, list(self.sizes) + list(self.node_hu)),
            (vocabulary.NECK_LEVEL, list(self.level_weights)),
            (vocabulary.PRIMARY_SITE, list(self.primary_site_probs)),
            (vocabulary.T_STAGE, list(self.t_stage_probs)),
            (vocabulary.HPV_STATUS, list(self.hpv_probs)),
        )
        for words, used in checks:
            unknown = sorted(set(used) - set(words.values))
            if unknown:
                raise ValueError(f"profile {self.name!r}: {words.column} values {unknown} unknown")
        if set(self.sizes) != set(CLASSES):
            raise ValueError(f"profile {self.name!r}: a size model per class {CLASSES} is needed")
        if len(self.ene_grade_probs) != len(vocabulary.ENE_GRADES):
            raise ValueError(f"profile {self.name!r}: one probability per ENE grade is needed")


INTERNAL = Profile(
    name="internal",
    code=1,
    patient_prefix="INT",
    cohort_label="Internal",
    institution="Synthetic General Hospital",
    manufacturer="SIEMENS",
    model_name="SOMATOM Definition AS+",
    software_version="syngo CT VA48A",
    station_name="SYNCT01",
    convolution_kernel="B30f",
    kvp=120.0,
    tube_current_ma=(180, 260),
    slice_thickness_mm=3.0,
    pixel_spacing_mm=(0.70, 0.80),
    min_slices=40,
    coverage=(-0.10, 1.10),
    noise_sd_hu=9.0,
    nps_cutoff=0.55,
    psf_sigma_mm=0.55,
    pixel_representation=0,
    bits_stored=12,
    artery_hu=(235.0, 30.0),
    vein_hu=(175.0, 25.0),
    thyroid_hu=(135.0, 15.0),
    node_hu={"benign": 50.0, "metastasis": 62.0, "ene": 64.0},
    contrast_delay_s=65,
    # 001 Table 1, internal dataset: 691 / 226 / 94 of 1011 nodes.
    default_prevalence=(0.683, 0.224, 0.093),
    nodes_per_patient=1011 / 172,
    sizes={
        # 001 Results: medians 0.6 / 1.0 / 2.2 cm; ranges 0.5-3.0, 0.4-2.7, 0.5-3.7 cm.
        "benign": SizeModel(6.0, 0.20, 4.5, 30.0, tail_fraction=0.04, tail_sigma=0.55),
        "metastasis": SizeModel(10.0, 0.30, 4.5, 27.0),
        "ene": SizeModel(22.0, 0.28, 6.0, 37.0),
    },
    # Mostly gross ENE (grade 3-4); see nodes.py for the grade definitions.
    ene_grade_probs=(0.10, 0.20, 0.40, 0.30),
    # 001 Table 1: 61 +- 8 years, 170/172 men, larynx 62.8 % / hypopharynx 37.2 %,
    # pT1 2.9 %, pT2 31.4 %, pT3 42.4 %, pT4 23.3 %; April 2011 - August 2022.
    age=(61.0, 8.0),
    male_fraction=0.97,
    primary_site_probs={"larynx": 0.63, "hypopharynx": 0.37},
    t_stage_probs={"T1": 0.03, "T2": 0.31, "T3": 0.42, "T4a": 0.21, "T4b": 0.03},
    hpv_probs={"negative": 0.55, "unknown": 0.40, "positive": 0.05},
    study_years=(2011, 2022),
)

EXTERNAL = Profile(
    name="external",
    code=2,
    patient_prefix="EXT",
    cohort_label="External",
    institution="Synthetic Regional Medical Center",
    manufacturer="GE MEDICAL SYSTEMS",
    model_name="LightSpeed VCT",
    software_version="LightSpeedverrel",
    station_name="SYNCT02",
    convolution_kernel="STANDARD",
    kvp=120.0,
    tube_current_ma=(120, 200),
    slice_thickness_mm=5.0,
    pixel_spacing_mm=(0.72, 0.80),
    min_slices=40,
    coverage=(-0.14, 1.14),
    noise_sd_hu=15.0,
    nps_cutoff=0.75,
    psf_sigma_mm=0.45,
    pixel_representation=1,
    bits_stored=16,
    artery_hu=(185.0, 30.0),
    vein_hu=(150.0, 25.0),
    thyroid_hu=(115.0, 15.0),
    node_hu={"benign": 46.0, "metastasis": 55.0, "ene": 56.0},
    contrast_delay_s=90,
    # 001 Table 2, external test set 2: 161 / 10 / 23 of 194 nodes.
    default_prevalence=(0.830, 0.052, 0.118),
    nodes_per_patient=194 / 25,
    sizes={
        # 001 Results: medians 0.6 / 0.8 / 1.1 cm; ranges 0.5-1.9, 0.6-1.5, 0.5-3.8 cm.
        "benign": SizeModel(6.0, 0.20, 4.5, 19.0, tail_fraction=0.06, tail_sigma=0.45),
        "metastasis": SizeModel(8.0, 0.22, 5.5, 15.0),
        "ene": SizeModel(11.0, 0.50, 5.0, 38.0),
    },
    # "early-stage ENE ... more subtle CT findings" (001 Discussion).
    ene_grade_probs=(0.45, 0.33, 0.16, 0.06),
    # 001 Table 2, test set 2: 60 +- 10 years, 24/25 men, larynx 44 % / hypopharynx
    # 56 %, pT1 4 %, pT2 12 %, pT3 28 %, pT4 56 %; February 2018 - July 2023.
    age=(60.0, 10.0),
    male_fraction=0.94,
    primary_site_probs={"larynx": 0.44, "hypopharynx": 0.56},
    t_stage_probs={"T1": 0.04, "T2": 0.12, "T3": 0.28, "T4a": 0.48, "T4b": 0.08},
    hpv_probs={"negative": 0.50, "unknown": 0.45, "positive": 0.05},
    study_years=(2018, 2023),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (INTERNAL, EXTERNAL)}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name`` (``internal`` or ``external``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


def parse_prevalence(text: str | None, profile: Profile) -> tuple[float, float, float]:
    """Parse ``"benign,meta,ene"`` fractions (or percentages) and normalise them.

    ``None`` or an empty string gives the profile's default (001's class mix).
    """
    if text is None or not str(text).strip():
        return profile.default_prevalence
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3:
        raise ValueError("--prevalence needs three comma-separated numbers: benign,meta,ene")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"--prevalence {text!r}: not numbers") from None
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"--prevalence {text!r}: values must be >= 0 and not all 0")
    total = sum(values)
    b, m, e = (v / total for v in values)
    return (b, m, e)
