"""Parametric anatomy of the neck from skull base to clavicles.

The neck is described in an anatomical coordinate frame (millimetres) that is
the DICOM patient frame (LPS) up to a translation: ``x`` grows to the
patient's left, ``y`` to the posterior, ``z`` to the head.  Along ``z`` we use
the normalised level ``t``: 0 at the skull base (C1), 1 at the clavicles / T1,
over a patient-specific neck length of 150-185 mm.  Landmarks in ``t``
follow the usual vertebral correspondences: mandible C2-C3 (t 0-0.2), hyoid
C3 (t ~0.32), thyroid cartilage C4-C5 (t 0.38-0.56), cricoid C6 (t ~0.6),
thyroid gland and trachea C6-T1 (t 0.62-0.92), clavicles and lung apices
T1 (t > 0.93).

Every structure is given by key frames (``t`` -> position / size) for a
reference adult man, scaled per patient (lateral and antero-posterior body
size, subcutaneous fat, gland and vessel sizes, left/right asymmetry) and
rendered slice by slice as ellipses, annuli, capsules and polar "depth"
layers.  The dimensions are textbook approximations of adult neck anatomy
(e.g. neck circumference ~38 cm, tracheal lumen 15-20 mm, common carotid
7-8 mm, internal jugular vein 10-15 mm, vertebral body 17-22 mm wide); the
source documents give no anatomical measurements, so these are modelling
choices, tuned until the montage looks like a contrast-enhanced neck CT.

The result is a tissue label map (``Tissue``) and a noise-free HU volume;
``scanner.py`` adds blur and CT noise, ``nodes.py`` adds the lymph nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypedDict

import numpy as np
from scipy import ndimage

from .profiles import Profile

__all__ = [
    "Anatomy",
    "Bulge",
    "Geometry",
    "Tissue",
    "TISSUE_NAMES",
    "build_geometry",
    "render_anatomy",
    "sample_anatomy_params",
]


class Bulge(TypedDict):
    """Mass effect of one bulky node on the neck contour (chosen by ``nodes.plan_bulges``)."""

    t: float  # normalised level of the node
    angle_deg: float  # direction from the neck's centre
    amp_mm: float  # how far the contour is pushed out
    size_mm: float  # the node's planned short axis
    level: str  # the neck level it was moved to


class Tissue(IntEnum):
    """Tissue classes of the label map (written to ``.truth`` for the realism check)."""

    OUTSIDE = 0
    FAT = 1
    SKIN = 2
    MUSCLE = 3
    ARTERY = 4
    VEIN = 5
    CORTICAL_BONE = 6
    CANCELLOUS_BONE = 7
    AIRWAY = 8
    CARTILAGE = 9
    THYROID = 10
    SALIVARY = 11
    PAROTID = 12
    DISC = 13
    CANAL = 14
    LUNG = 15
    MUCOSA = 16
    NODE = 17
    NECROSIS = 18
    STRANDING = 19
    HILUM = 20


TISSUE_NAMES: dict[int, str] = {t.value: t.name.lower() for t in Tissue}

# Key frames of the reference man: (t, value) pairs, interpolated linearly.
_LEAN_HALF_WIDTH = [
    (-0.2, 62),
    (0.0, 64),
    (0.12, 61),
    (0.25, 56),
    (0.4, 52),
    (0.6, 51),
    (0.8, 54),
    (0.9, 59),
    (1.0, 72),
    (1.2, 95),
]
_LEAN_ANTERIOR = [
    (-0.2, 82),
    (0.05, 80),
    (0.15, 74),
    (0.25, 60),
    (0.33, 49),
    (0.45, 46),
    (0.6, 42),
    (0.8, 40),
    (0.95, 42),
    (1.2, 50),
]
_LEAN_POSTERIOR = [(-0.2, 68), (0.1, 63), (0.3, 62), (0.5, 64), (0.8, 68), (1.0, 76), (1.2, 86)]
_SUPERELLIPSE_N = [(-0.2, 2.2), (0.5, 2.3), (1.0, 2.7), (1.2, 2.9)]
_VERT_Y = [(-0.2, 5), (0.1, 6), (0.5, 8), (0.8, 12), (1.0, 16), (1.2, 20)]
_VERT_AX = [(-0.2, 8), (0.5, 9), (1.0, 11), (1.2, 12)]
_VERT_AY = [(-0.2, 6.5), (0.5, 7.5), (1.0, 8.5), (1.2, 9)]
_PHARYNX_AX = [(-0.2, 11), (0.0, 13), (0.2, 15), (0.3, 13), (0.36, 11)]
_PHARYNX_AY = [(-0.2, 5), (0.1, 6), (0.3, 5), (0.36, 4)]
_LARYNX_Y = [(0.34, -24), (0.5, -27), (0.62, -27)]
_TRACHEA_Y = [(0.6, -27), (0.8, -25), (1.0, -20), (1.2, -13)]
_CAROTID = [
    (-0.2, 26, 14),
    (0.0, 27, 11),
    (0.2, 27, 4),
    (0.38, 26, -3),
    (0.5, 25, -8),
    (0.7, 23, -9),
    (0.9, 21, -6),
    (1.2, 17, -1),
]
_ECA_OFFSET = [(-0.2, 8, -12), (0.1, 3, -9), (0.3, 1, -6), (0.4, 0, 0)]
_IJV_ANGLE = [(-0.2, 60), (0.1, 45), (0.3, 25), (0.5, 5), (0.7, -15), (0.9, -35), (1.2, -50)]
_SCM_ANGLE = [
    (-0.2, 42),
    (0.0, 34),
    (0.2, 15),
    (0.4, -12),
    (0.6, -30),
    (0.8, -44),
    (0.95, -58),
    (1.1, -64),
]
_SCM_LONG = [(-0.2, 10), (0.0, 14), (0.3, 18), (0.6, 19), (0.9, 15), (1.1, 9)]
_SCM_SHORT = [(-0.2, 5), (0.1, 6), (0.4, 6.5), (0.8, 5.5), (1.1, 3.5)]
_POSTERIOR_SECTOR = [(-0.2, 62), (0.5, 56), (1.0, 64), (1.2, 70)]


def _kf(t: np.ndarray, frames: Sequence[Sequence[float]], col: int = 1) -> np.ndarray:
    """Linear interpolation of key frames ``(t, value, ...)``: column ``col`` at levels ``t``."""
    ts = np.array([f[0] for f in frames], dtype=float)
    vs = np.array([f[col] for f in frames], dtype=float)
    return np.interp(t, ts, vs).astype(np.float32)


def _window(t: np.ndarray, t0: float, t1: float, ramp: float = 0.03) -> np.ndarray:
    """Smooth 0..1 presence of a structure between t0 and t1 (tapered ends)."""
    up = np.clip((t - t0) / ramp, 0, 1)
    down = np.clip((t1 - t) / ramp, 0, 1)
    return np.sqrt(np.minimum(up, down)).astype(np.float32)


@dataclass
class AnatomyParams:
    """Per-patient anatomical variation (all drawn from the patient's stream)."""

    neck_length_mm: float
    scale_lat: float
    scale_ap: float
    fat_factor: float
    rotation_deg: float
    trachea_r: float
    ijv_scale: tuple[float, float]  # right, left
    thyroid_scale: float
    scm_scale: float
    gland_scale: float
    vessel_jitter: np.ndarray  # (2 sides, 2) mm
    outline_coeffs: np.ndarray  # (4 harmonics, 2) fractional
    fat_coeffs: np.ndarray
    ossification: float  # 0..1 thyroid cartilage ossification (age)
    hu: dict[str, float]
    small_vessels: list[tuple[float, float, float, float, float, float]]
    esophagus_air: bool
    vertebra_phase: float


def sample_anatomy_params(
    rng: np.random.Generator, profile: Profile, age: int, sex: str
) -> AnatomyParams:
    """Draw the anatomical and tissue-HU variation of one patient."""
    female = sex == "F"
    size = 0.93 if female else 1.0
    hu = {
        "fat": float(rng.normal(-100, 6)),
        "skin": float(rng.normal(25, 6)),
        "muscle": float(rng.normal(52, 4)),
        "mucosa": float(rng.normal(78, 7)),
        "artery": float(rng.normal(*profile.artery_hu)),
        "vein": float(rng.normal(*profile.vein_hu)),
        "cortical": float(rng.normal(1150, 120)),
        "cancellous": float(np.clip(rng.normal(330 - 2.2 * (age - 40), 35), 130, 420)),
        "airway": -995.0,
        "cartilage": float(rng.normal(110, 10)),
        "thyroid": float(rng.normal(*profile.thyroid_hu)),
        "salivary": float(rng.normal(75, 8)),
        "parotid": float(rng.normal(12, 10)),
        "disc": float(rng.normal(85, 8)),
        "canal": float(rng.normal(18, 4)),
        "lung": float(rng.normal(-860, 20)),
        "outside": -1000.0,
    }
    hu["vein"] = min(hu["vein"], hu["artery"] - 15)
    small = []
    for _ in range(int(rng.integers(6, 12))):
        side = rng.choice([-1.0, 1.0])
        small.append(
            (
                float(side * rng.uniform(15, 52)),
                float(rng.uniform(-35, 45)),
                float(rng.uniform(-40, 40)),  # drift in x over the neck (mm)
                float(rng.uniform(-30, 30)),
                float(rng.uniform(0.7, 1.3)),  # radius
                float(rng.uniform(0.0, 6.28)),
            )
        )
    return AnatomyParams(
        neck_length_mm=float(rng.uniform(150, 185) * (0.94 if female else 1.0)),
        scale_lat=float(rng.normal(1.0, 0.05) * size),
        scale_ap=float(rng.normal(1.0, 0.05) * size),
        fat_factor=float(np.clip(np.exp(rng.normal(0.0, 0.35)), 0.45, 2.2)),
        rotation_deg=float(rng.normal(0.0, 2.5)),
        trachea_r=float(rng.uniform(7.0, 9.2) * size),
        ijv_scale=(float(rng.uniform(0.9, 1.35)), float(rng.uniform(0.7, 1.15))),
        thyroid_scale=float(np.clip(rng.normal(1.0, 0.15), 0.7, 1.4)),
        scm_scale=float(rng.normal(1.0, 0.1)),
        gland_scale=float(rng.normal(1.0, 0.1)),
        vessel_jitter=rng.normal(0.0, 1.5, size=(2, 2)),
        outline_coeffs=rng.normal(0.0, 0.018, size=(4, 2)),
        fat_coeffs=rng.normal(0.0, 0.18, size=(4, 2)),
        ossification=float(np.clip((age - 35) / 45 + rng.normal(0, 0.15), 0.05, 0.95)),
        hu=hu,
        small_vessels=small,
        esophagus_air=bool(rng.random() < 0.5),
        vertebra_phase=float(rng.uniform(-0.03, 0.03)),
    )


@dataclass
class Geometry:
    """Voxel grid of one series and its mapping to the DICOM patient frame.

    Array axes are (slice, row, column); slice 0 is the most inferior, so slices
    ascend along the normal (+z), as the import format requires of masks.
    """

    rows: int
    cols: int
    pixel_spacing: float
    slice_thickness: float
    x: np.ndarray  # (cols,) anatomical mm of each column centre
    y: np.ndarray  # (rows,) anatomical mm of each row centre
    z: np.ndarray  # (slices,) mm, ascending
    t: np.ndarray  # (slices,) normalised level (decreasing with z)
    offset: tuple[float, float, float]  # anatomical -> DICOM patient frame translation

    @property
    def n_slices(self) -> int:
        return int(self.z.size)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_slices, self.rows, self.cols)

    def position(self, k: int) -> tuple[float, float, float]:
        """ImagePositionPatient (centre of the first pixel) of slice ``k``."""
        ox, oy, oz = self.offset
        return (float(self.x[0] + ox), float(self.y[0] + oy), float(self.z[k] + oz))

    def affine_lps(self) -> np.ndarray:
        """4x4 matrix mapping (column, row, slice) indices to LPS millimetres."""
        a = np.eye(4)
        a[0, 0] = self.pixel_spacing
        a[1, 1] = self.pixel_spacing
        a[2, 2] = float(self.z[1] - self.z[0]) if self.n_slices > 1 else self.slice_thickness
        a[:3, 3] = self.position(0)
        return a

    def affine_ras(self) -> np.ndarray:
        """The same mapping in RAS (NIfTI) millimetres."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine_lps()


def build_geometry(
    rng: np.random.Generator, profile: Profile, params: AnatomyParams, size: int = 256
) -> Geometry:
    """Choose field of view, pixel spacing, slice positions and table offsets."""
    dz = profile.slice_thickness_mm
    t0, t1 = profile.coverage
    length = params.neck_length_mm * (t1 - t0)
    n = max(profile.min_slices, int(np.ceil(length / dz)) + 1)
    n = int(min(n, 80))
    extra = (n - 1) * dz - length
    z_top = params.neck_length_mm * (-t0) + extra / 2  # z of the first t sample, 0 = skull base
    # slices ascend in z; skull base at z = 0, clavicles at z = -L
    z = (z_top - (n - 1) * dz) + dz * np.arange(n)
    z = np.round(z, 3)
    t = -z / params.neck_length_mm
    spacing = float(np.round(rng.uniform(*profile.pixel_spacing_mm), 4))
    # centre the field of view on the neck (antero-posterior centre of the mid neck)
    cy = 0.5 * (_kf(np.array([0.5]), _LEAN_POSTERIOR)[0] - _kf(np.array([0.5]), _LEAN_ANTERIOR)[0])
    cy = float(cy * params.scale_ap + rng.normal(0, 3))
    cx = float(rng.normal(0, 3))
    x = cx + (np.arange(size) - (size - 1) / 2) * spacing
    y = cy + (np.arange(size) - (size - 1) / 2) * spacing
    offset = (
        float(np.round(rng.normal(0, 4), 2)),
        float(np.round(rng.uniform(120, 200), 2)),  # table height
        float(np.round(rng.uniform(-260, -120), 1)),
    )
    return Geometry(
        size, size, spacing, dz, x.astype(np.float64), y.astype(np.float64), z, t, offset
    )


@dataclass
class Anatomy:
    """Rendered anatomy: label map, noise-free HU and landmarks for node placement."""

    labels: np.ndarray  # uint8 (slices, rows, cols)
    hu: np.ndarray  # float32
    X: np.ndarray  # (rows, cols) anatomical x (mm) of each pixel
    Y: np.ndarray  # (rows, cols) anatomical y (mm)
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)


def _wrap(a: np.ndarray) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


class _Painter:
    """Paints shapes into the label map, restricted to bounding boxes for speed."""

    def __init__(self, geom: Geometry, labels: np.ndarray, rot: float) -> None:
        self.g = geom
        self.lab = labels
        c, s = np.cos(np.deg2rad(rot)), np.sin(np.deg2rad(rot))
        # anatomical (body) coordinates of every pixel, after patient rotation
        xx, yy = np.meshgrid(geom.x, geom.y)
        self.X = (c * xx + s * yy).astype(np.float32)
        self.Y = (-s * xx + c * yy).astype(np.float32)
        self.px = geom.pixel_spacing

    def _bbox(self, cx: np.ndarray, cy: np.ndarray, ext: np.ndarray, on: np.ndarray):
        ks = np.nonzero(on)[0]
        if ks.size == 0:
            return None
        k0, k1 = int(ks[0]), int(ks[-1]) + 1
        x0 = float(np.min((cx - ext)[k0:k1]))
        x1 = float(np.max((cx + ext)[k0:k1]))
        y0 = float(np.min((cy - ext)[k0:k1]))
        y1 = float(np.max((cy + ext)[k0:k1]))
        # the pixel grid is rotated: take all pixels whose body coords fall in the box
        sel = (x0 - 2 <= self.X) & (x1 + 2 >= self.X) & (y0 - 2 <= self.Y) & (y1 + 2 >= self.Y)
        rows = np.nonzero(sel.any(axis=1))[0]
        cols = np.nonzero(sel.any(axis=0))[0]
        if rows.size == 0 or cols.size == 0:
            return None
        return (
            slice(k0, k1),
            slice(int(rows[0]), int(rows[-1]) + 1),
            slice(int(cols[0]), int(cols[-1]) + 1),
        )

    def ellipse(self, cx, cy, a, b, theta, on, code, where=None, q_out=False, box=None):
        """Paint ellipses (per-slice centre, semi-axes, angle in rad) with ``code``.

        ``where``: only overwrite these label codes.  Returns the normalised
        radius q (<1 inside) over the bounding box when ``q_out``.
        """
        cx, cy, a, b, theta = (
            np.broadcast_to(np.asarray(v, np.float32), on.shape) for v in (cx, cy, a, b, theta)
        )
        on = on & (a > 0.2) & (b > 0.2)
        if box is None:
            box = self._bbox(cx, cy, np.maximum(a, b), on)
        if box is None:
            return None
        ks, rs, cs = box
        X = self.X[rs, cs][None]
        Y = self.Y[rs, cs][None]
        sl = (ks,)
        dx = X - cx[sl][:, None, None]
        dy = Y - cy[sl][:, None, None]
        ct = np.cos(theta[sl])[:, None, None]
        st = np.sin(theta[sl])[:, None, None]
        u = (dx * ct + dy * st) / np.maximum(a[sl], 1e-3)[:, None, None]
        v = (-dx * st + dy * ct) / np.maximum(b[sl], 1e-3)[:, None, None]
        q = u * u + v * v
        q = np.where(on[sl][:, None, None], q, np.float32(1e9))
        if code is not None:
            inside = q < 1.0
            self._assign(box, inside, code, where)
        if q_out:
            return box, q
        return None

    def set_polar(self, r_lean: np.ndarray, nb: int) -> None:
        """Register the lean outline (slices x angle bins) for outline-following bands."""
        self.r_lean = r_lean
        self.nb = nb
        self.R = np.hypot(self.X, self.Y)
        self.PHI = np.arctan2(self.Y, self.X)
        self.bins = np.clip(((self.PHI + np.pi) / (2 * np.pi) * nb).astype(np.int32), 0, nb - 1)

    def band(self, phi_c, half, depth0, thick, on, code, where=None):
        """Paint a lens-shaped band lying ``depth0``..``depth0+thick`` mm under the lean outline.

        ``phi_c`` (rad) is the band's centre angle, ``half`` its angular half
        width; the thickness tapers to 0 at the ends (a muscle belly in cross-section).
        """
        ks = np.nonzero(on)[0]
        if ks.size == 0:
            return
        k0, k1 = int(ks[0]), int(ks[-1]) + 1
        pc = phi_c[k0:k1]
        mid = float(np.angle(np.exp(1j * pc).mean()))
        spread = float(np.max(np.abs(_wrap(pc - mid)))) + float(np.max(half[k0:k1]))
        sel2d = np.abs(_wrap(self.PHI - mid)) < spread
        sel2d &= float(np.min(self.r_lean[k0:k1])) - float(np.max(depth0 + thick)) - 2 < self.R
        rows = np.nonzero(sel2d.any(axis=1))[0]
        cols = np.nonzero(sel2d.any(axis=0))[0]
        if rows.size == 0:
            return
        rs = slice(int(rows[0]), int(rows[-1]) + 1)
        cs = slice(int(cols[0]), int(cols[-1]) + 1)
        dphi = _wrap(self.PHI[rs, cs][None] - pc[:, None, None].astype(np.float32))
        d = dphi / half[k0:k1, None, None]
        prof = np.sqrt(np.clip(1 - d * d, 0, 1))
        depth = self.r_lean[k0:k1][:, self.bins[rs, cs]] - self.R[rs, cs][None]
        d0 = depth0[k0:k1, None, None]
        inside = (
            (depth > d0) & (depth < d0 + thick[k0:k1, None, None] * prof) & on[k0:k1, None, None]
        )
        self._assign((slice(k0, k1), rs, cs), inside, code, where)

    def muscle_group(self, ellipses, plane_mm: float = 0.8, code: int = 3) -> None:
        """Paint muscle bellies (ellipses) separated by thin fat planes where they meet."""
        boxes = []
        for cx, cy, a, b, theta, on in ellipses:
            out = self.ellipse(cx, cy, a, b, theta, on, None, q_out=True)
            if out is not None:
                a_ = np.broadcast_to(np.asarray(a, np.float32), on.shape)
                b_ = np.broadcast_to(np.asarray(b, np.float32), on.shape)
                boxes.append((out[0], out[1], 0.5 * (a_ + b_)))
        if not boxes:
            return
        k0 = min(bx[0].start for bx, _, _ in boxes)
        k1 = max(bx[0].stop for bx, _, _ in boxes)
        r0 = min(bx[1].start for bx, _, _ in boxes)
        r1 = max(bx[1].stop for bx, _, _ in boxes)
        c0 = min(bx[2].start for bx, _, _ in boxes)
        c1 = max(bx[2].stop for bx, _, _ in boxes)
        shape = (k1 - k0, r1 - r0, c1 - c0)
        best1 = np.full(shape, np.inf, np.float32)
        best2 = np.full(shape, np.inf, np.float32)
        for (ks, rs, cs), q, rad in boxes:
            # distance outside/inside each belly, in mm (approximately)
            dist = (np.sqrt(q) - 1.0) * rad[ks][:, None, None]
            sub = (
                slice(ks.start - k0, ks.stop - k0),
                slice(rs.start - r0, rs.stop - r0),
                slice(cs.start - c0, cs.stop - c0),
            )
            b1, b2 = best1[sub], best2[sub]
            np.minimum(b2, np.maximum(b1, dist), out=b2)
            np.minimum(b1, dist, out=b1)
        view = self.lab[k0:k1, r0:r1, c0:c1]
        inside = (best1 < 0) & (view != 0) & (view != 2)
        view[inside] = code
        with np.errstate(invalid="ignore"):
            plane = inside & (best2 - best1 < plane_mm) & (best2 < 4.0)
        view[plane] = 1

    def ring(self, cx, cy, a, b, theta, on, width, code=1, where=(3,)):
        """Paint a thin elliptical ring (a fat plane around a muscle belly)."""
        a = np.broadcast_to(np.asarray(a, np.float32), on.shape)
        b = np.broadcast_to(np.asarray(b, np.float32), on.shape)
        out = self.ellipse(cx, cy, a + width, b + width, theta, on, None, q_out=True)
        if out is None:
            return
        box, q_outer = out
        _, q_inner = self.ellipse(cx, cy, a, b, theta, on, None, q_out=True, box=box)
        self._assign(box, (q_outer < 1) & (q_inner >= 1), code, where)

    def capsule(self, p0x, p0y, p1x, p1y, radius, on, code, where=None):
        """Paint thick line segments (per slice end points and radius)."""
        p0x, p0y, p1x, p1y, radius = (
            np.broadcast_to(np.asarray(v, np.float32), on.shape)
            for v in (p0x, p0y, p1x, p1y, radius)
        )
        cx = 0.5 * (p0x + p1x)
        cy = 0.5 * (p0y + p1y)
        ext = 0.5 * np.hypot(p1x - p0x, p1y - p0y) + radius
        box = self._bbox(cx, cy, ext, on)
        if box is None:
            return
        ks, rs, cs = box
        X = self.X[rs, cs][None]
        Y = self.Y[rs, cs][None]
        sl = (ks,)
        ax, ay = p0x[sl][:, None, None], p0y[sl][:, None, None]
        bx, by = p1x[sl][:, None, None], p1y[sl][:, None, None]
        vx, vy = bx - ax, by - ay
        ll = np.maximum(vx * vx + vy * vy, 1e-6)
        h = np.clip(((X - ax) * vx + (Y - ay) * vy) / ll, 0, 1)
        d2 = (X - ax - h * vx) ** 2 + (Y - ay - h * vy) ** 2
        inside = (d2 < radius[sl][:, None, None] ** 2) & on[sl][:, None, None]
        self._assign(box, inside, code, where)

    def _assign(self, box, inside, code, where):
        view = self.lab[box]
        if where is not None:
            inside = inside & np.isin(view, np.asarray(where, dtype=np.uint8))
        view[inside] = code


def _interp_index(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and weights of linear interpolation from n_in to n_out cells (same extent)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    i0 = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    i1 = np.clip(i0 + 1, 0, n_in - 1)
    w = np.clip(pos - np.floor(pos), 0, 1).astype(np.float32)
    return i0, i1, w


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int, int], coarse: int) -> np.ndarray:
    """Smooth N(0,1) random field: coarse Gaussian noise, bilinearly upsampled in-plane."""
    nz, ny, nx = shape
    small = rng.standard_normal((nz, coarse, coarse)).astype(np.float32)
    small = ndimage.gaussian_filter(small, sigma=(0.7, 0.8, 0.8), mode="wrap")
    small /= max(float(small.std()), 1e-6)
    # separable linear interpolation with explicit weights (no BLAS, so the
    # result is bit-identical whatever the number of threads)
    i0x, i1x, wx = _interp_index(nx, coarse)
    tmp = small[:, :, i0x] * (1 - wx) + small[:, :, i1x] * wx  # (nz, c, nx)
    i0y, i1y, wy = _interp_index(ny, coarse)
    return tmp[:, i0y, :] * (1 - wy)[:, None] + tmp[:, i1y, :] * wy[:, None]


@dataclass
class _Neck:
    """What every painting step of one neck shares: the grid, the painter and the per-slice
    level ``t`` with the patient's lateral (``sx``) and antero-posterior (``sy``) scale."""

    params: AnatomyParams
    geom: Geometry
    labels: np.ndarray
    P: _Painter
    t: np.ndarray  # (slices,) float32
    sx: float
    sy: float

    @property
    def nz(self) -> int:
        return self.geom.n_slices

    @property
    def ones(self) -> np.ndarray:
        return np.ones(self.nz, dtype=bool)

    def win(self, t0: float, t1: float) -> np.ndarray:
        """Slices whose level lies in [t0, t1]."""
        return (self.t >= t0) & (self.t <= t1)


@dataclass
class _Outline:
    """The lean (sub-fascial) and skin outlines of every slice, in polar form."""

    r_lean: np.ndarray  # (slices, nb) mm
    r_body: np.ndarray  # (slices, nb) mm
    phi: np.ndarray  # (nb,) bin centre angles
    nb: int
    subq_mask: np.ndarray  # subcutaneous fat voxels (for the septa texture)
    lean_half_width: np.ndarray  # (slices,)
    lean_anterior: np.ndarray  # (slices,)

    def point(self, angle_deg: np.ndarray, inset: np.ndarray):
        """Per slice: the point ``inset`` mm under the lean outline at ``angle_deg``, and the
        outline's tangent direction there (for structures lying under it)."""
        r_lean, phi, nb = self.r_lean, self.phi, self.nb
        ang = np.deg2rad(angle_deg)
        idx = np.clip(((ang + np.pi) / (2 * np.pi) * nb).astype(int), 0, nb - 1)
        kk = np.arange(r_lean.shape[0])
        r = r_lean[kk, idx] - inset
        i2 = np.clip(idx + 8, 0, nb - 1)
        i1 = np.clip(idx - 8, 0, nb - 1)
        p2 = np.stack([r_lean[kk, i2] * np.cos(phi[i2]), r_lean[kk, i2] * np.sin(phi[i2])])
        p1 = np.stack([r_lean[kk, i1] * np.cos(phi[i1]), r_lean[kk, i1] * np.sin(phi[i1])])
        tang = np.arctan2(p2[1] - p1[1], p2[0] - p1[0])
        return r * np.cos(ang), r * np.sin(ang), tang


@dataclass
class _Spine:
    """Per-slice geometry of the cervical spine (mm) and the vertebral cycle."""

    yv: np.ndarray  # vertebral body centre, antero-posterior
    vax: np.ndarray  # body semi-axes
    vay: np.ndarray
    psi: np.ndarray  # 0..1 position within the current vertebra
    disc: np.ndarray  # slices through an intervertebral disc
    canal_ax: np.ndarray
    canal_ay: float
    canal_y: np.ndarray


@dataclass
class _Scm:
    """Sternocleidomastoid centre lines and size, per side (-1 right, +1 left)."""

    centre: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # x, y, tangent angle
    long: np.ndarray
    short: np.ndarray


def render_anatomy(
    params: AnatomyParams,
    geom: Geometry,
    rng: np.random.Generator,
    bulges: Sequence[Bulge] = (),
) -> Anatomy:
    """Render the tissue label map and noise-free HU volume of one neck.

    ``bulges``: mass effect of bulky nodes (``t``, ``angle_deg``, ``amp_mm``,
    ``size_mm``): the neck contour is pushed outwards over the node, as a
    palpable nodal mass does.

    Structures are painted in this order, each overwriting what lies under it: outline, skin
    and fat; deep neck muscles; face and floor of mouth; pharynx and larynx; trachea and
    oesophagus; thyroid; strap muscles; sternocleidomastoid; vertebral column; mandible, hyoid
    and mastoid; thoracic inlet; vessels last (they are always visible).
    """
    labels = np.zeros(geom.shape, dtype=np.uint8)
    neck = _Neck(
        params=params,
        geom=geom,
        labels=labels,
        P=_Painter(geom, labels, params.rotation_deg),
        t=geom.t.astype(np.float32),
        sx=params.scale_lat,
        sy=params.scale_ap,
    )
    outline = _paint_body_outline(neck, bulges)
    spine = _spine_geometry(neck)
    _paint_deep_neck_muscles(neck, spine)
    pharynx_y = _paint_face_and_floor_of_mouth(neck, spine)
    _paint_pharynx_and_larynx(neck, spine)
    trachea_y, trachea_r = _paint_trachea_and_oesophagus(neck)
    _paint_thyroid(neck, trachea_y, trachea_r)
    _paint_strap_muscles(neck)
    scm = _paint_sternocleidomastoid(neck, outline)
    _paint_vertebral_column(neck, spine)
    _paint_mandible_hyoid_mastoid(neck, pharynx_y)
    _paint_thoracic_inlet(neck, outline, spine)
    lm = _paint_vessels(neck, spine, scm)

    nz = neck.nz
    lm.update(
        {
            "t": neck.t,
            "lean_half_width": outline.lean_half_width,
            "vert_y": spine.yv,
            "vert_ax": spine.vax,
            "trachea_y": trachea_y,
            "trachea_r": np.full(nz, trachea_r, np.float32),
            "pharynx_y": pharynx_y,
            "rotation_deg": np.full(nz, params.rotation_deg, np.float32),
        }
    )
    lm["_r_lean"] = outline.r_lean
    lm["_r_body"] = outline.r_body

    # ---------------- HU and texture ----------------
    hu = _tissue_hu(labels, params, rng, outline.subq_mask, geom)
    lm["fat_hu"] = np.array([params.hu["fat"]], np.float32)
    lm["neck_length"] = np.array([params.neck_length_mm], np.float32)
    return Anatomy(labels=labels, hu=hu, X=neck.P.X, Y=neck.P.Y, landmarks=lm)


def _paint_body_outline(neck: _Neck, bulges: Sequence[Bulge]) -> _Outline:
    """Body outline (a perturbed superellipse, pushed out over bulky nodes), skin and
    subcutaneous fat; registers the lean outline with the painter for the bands."""
    T = Tissue
    params, t, P, labels = neck.params, neck.t, neck.P, neck.labels
    wl = _kf(t, _LEAN_HALF_WIDTH) * neck.sx
    al = _kf(t, _LEAN_ANTERIOR) * neck.sy
    pl = _kf(t, _LEAN_POSTERIOR) * neck.sy
    nexp = _kf(t, _SUPERELLIPSE_N)
    nb = 2048
    phi = (np.arange(nb, dtype=np.float32) + 0.5) / nb * 2 * np.pi - np.pi  # -pi..pi
    cphi, sphi = np.cos(phi)[None], np.sin(phi)[None]
    a_lat = wl[:, None] * (1 - 0.10 * np.clip(-sphi, 0, None))
    b_ap = np.where(sphi < 0, al[:, None], pl[:, None])
    n_ = nexp[:, None]
    r_lean = ((np.abs(cphi) / a_lat) ** n_ + (np.abs(sphi) / b_ap) ** n_) ** (-1 / n_)
    pert = np.zeros_like(r_lean)
    for k in range(4):
        c, s = params.outline_coeffs[k]
        pert += c * np.cos((k + 2) * phi)[None] + s * np.sin((k + 2) * phi)[None]
    r_lean = r_lean * (1 + pert)
    for bl in bulges:
        sig_t = (0.5 * bl["size_mm"] + 6.0) / params.neck_length_mm
        r_mid = float(np.mean(r_lean))
        sig_p = (0.5 * bl["size_mm"] + 10.0) / r_mid
        dp = _wrap(phi - np.deg2rad(bl["angle_deg"]))
        r_lean = (
            r_lean
            + bl["amp_mm"]
            * np.exp(-(((t - bl["t"]) / sig_t) ** 2))[:, None]
            * np.exp(-((dp / sig_p) ** 2))[None]
        )
    fat_dir = 4.5 * cphi**2 + np.where(sphi < 0, 3.5, 8.0) * sphi**2
    fpert = np.zeros_like(phi)[None]
    for k in range(4):
        c, s = params.fat_coeffs[k]
        fpert = fpert + c * np.cos((k + 1) * phi)[None] + s * np.sin((k + 1) * phi)[None]
    # more fat in the lower neck / supraclavicular region
    fat_t = (1.0 + 0.5 * np.clip((t - 0.8) / 0.3, 0, 1))[:, None]
    subq = np.clip(params.fat_factor * fat_dir * fat_t * (1 + fpert), 1.5, 30).astype(np.float32)
    skin = 1.6
    r_body = r_lean + subq + skin

    R = np.hypot(P.X, P.Y)
    PHI = np.arctan2(P.Y, P.X)
    bins = np.clip(((PHI + np.pi) / (2 * np.pi) * nb).astype(np.int32), 0, nb - 1)
    depth = r_body[:, bins] - R[None]  # mm below the skin surface
    lean_depth = r_lean[:, bins] - R[None]
    labels[depth >= 0] = T.SKIN
    labels[depth >= skin] = T.FAT
    P.set_polar(r_lean, nb)
    subq_mask = (depth >= skin) & (lean_depth < 0)
    return _Outline(r_lean, r_body, phi, nb, subq_mask, wl, al)


def _spine_geometry(neck: _Neck) -> _Spine:
    """Vertebral body and canal positions per slice, and where the discs are."""
    t, sx, sy = neck.t, neck.sx, neck.sy
    yv = _kf(t, _VERT_Y) * sy
    vax = _kf(t, _VERT_AX) * sx
    vay = _kf(t, _VERT_AY) * sy
    level = (t - 0.05 + neck.params.vertebra_phase) / 0.135
    psi = level - np.floor(level)
    below_c1 = t > 0.0
    disc = below_c1 & (psi > 0.82)
    canal_ay = 6.5 * sy
    canal_ax = _kf(t, [(-0.2, 12.5), (0.3, 11.5), (1.0, 10.5)]) * sx
    canal_y = yv + vay + 1.5 + canal_ay
    return _Spine(yv, vax, vay, psi, disc, canal_ax, canal_ay, canal_y)


def _paint_deep_neck_muscles(neck: _Neck, spine: _Spine) -> None:
    """Paraspinal, levator scapulae and scalene muscles, trapezius, the nuchal fat line and
    the prevertebral muscles."""
    T = Tissue
    t, sx, sy, P, nz, ones, win = neck.t, neck.sx, neck.sy, neck.P, neck.nz, neck.ones, neck.win
    yv, vax, vay = spine.yv, spine.vax, spine.vay
    canal_y, canal_ay = spine.canal_y, spine.canal_ay
    # Paraspinal, levator scapulae and scalene muscles: each belly an ellipse;
    # where bellies meet, a thin fat plane (a Voronoi boundary between them).
    groups = []
    for side in (-1, 1):
        up = _kf(t, [(-0.2, 1.25), (0.2, 1.1), (0.5, 1.0), (1.0, 1.05)])
        groups += [
            (
                side * 9.5 * sx,
                canal_y + canal_ay + 13 * sy * up,
                10 * sx * up,
                15 * sy * up,
                side * 0.1,
                ones,
            ),
            (side * 6.5 * sx, canal_y + canal_ay + 3 * sy, 7 * sx, 7 * sy, side * 0.4, ones),
            (
                side * 25 * sx * up,
                canal_y + 10 * sy * up,
                12 * sx * up,
                19 * sy * up,
                side * 0.6,
                ones,
            ),
            (side * (vax + 25 * sx), yv + 9 * sy, 8.5 * sx, 13 * sy, side * 0.95, win(0.1, 1.2)),
            (side * (vax + 17 * sx), yv - 2.5, 7.0, 5.5, side * 0.5, win(0.35, 1.1)),
            (side * (vax + 15 * sx), yv + 7.5, 8.5, 6.0, side * 0.2, win(0.25, 1.1)),
            (side * (vax + 11 * sx), canal_y - 2, 7.0, 7.0, 0.0, win(-0.3, 0.3)),
        ]
    P.muscle_group(groups, plane_mm=0.6)
    # trapezius: a band under the posterior subcutaneous fat, with its own fat plane
    for side in (-1, 1):
        c = np.full(nz, 90 - side * 34.0, np.float32)
        P.band(
            np.deg2rad(c),
            np.deg2rad(np.full(nz, 38.0)),
            np.full(nz, 1.5),
            np.full(nz, 6.0),
            win(0.3, 1.3),
            T.FAT,
            where=[T.MUSCLE],
        )
        P.band(
            np.deg2rad(c),
            np.deg2rad(np.full(nz, 36.0)),
            np.full(nz, 0.2),
            np.full(nz, 5.2),
            win(0.3, 1.3),
            T.MUSCLE,
        )
    spine_tip = canal_y + canal_ay + 10
    P.capsule(0.0, spine_tip, 0.0, spine_tip + 50, 0.45, ones, T.FAT, where=[T.MUSCLE])
    # prevertebral (longus colli / capitis) muscles
    for side in (-1, 1):
        P.ellipse(side * 7 * sx, yv - vay - 3, 5.5 * sx, 3.2 * sy, 0.0, win(-0.3, 1.02), T.MUSCLE)


def _pharynx_geometry(neck: _Neck, spine: _Spine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Semi-axes and antero-posterior centre of the pharyngeal lumen per slice."""
    ph_ax = _kf(neck.t, _PHARYNX_AX) * neck.sx
    ph_ay = _kf(neck.t, _PHARYNX_AY) * neck.sy
    ph_y = spine.yv - spine.vay - 8.5 - ph_ay
    return ph_ax, ph_ay, ph_y


def _paint_face_and_floor_of_mouth(neck: _Neck, spine: _Spine) -> np.ndarray:
    """Parotids, masseter and pterygoids, tongue with its septum and sublingual fat,
    submandibular glands and digastric (upper slices). Returns the pharynx centre ``y``."""
    T = Tissue
    t, sx, sy, P, win, params = neck.t, neck.sx, neck.sy, neck.P, neck.win, neck.params
    ph_ax, ph_ay, ph_y = _pharynx_geometry(neck, spine)
    for side in (-1, 1):
        P.ellipse(side * 50 * sx, 4 * sy, 9 * sx, 15 * sy, side * 0.15, win(-0.3, 0.12), T.PAROTID)
        P.ellipse(
            side * 54 * sx, -12 * sy, 5 * sx, 13 * sy, side * -0.12, win(-0.3, 0.09), T.MUSCLE
        )
        P.ellipse(side * 36 * sx, -6 * sy, 5 * sx, 12 * sy, side * -0.5, win(-0.3, 0.04), T.MUSCLE)
    tay = _kf(t, [(-0.2, 18), (0.1, 20), (0.2, 16), (0.26, 9)]) * sy
    tax = _kf(t, [(-0.2, 26), (0.1, 28), (0.26, 19)]) * sx
    tongue_y = ph_y - ph_ay - 3 - tay
    P.ellipse(0.0, tongue_y, tax, tay, 0.0, win(-0.3, 0.26), T.MUCOSA)
    P.capsule(
        0.0,
        tongue_y - tay * 0.7,
        0.0,
        tongue_y + tay * 0.5,
        0.45,
        win(-0.3, 0.22),
        T.FAT,
        where=[T.MUCOSA],
    )
    for side in (-1, 1):
        P.ellipse(
            side * 13 * sx,
            tongue_y - 4,
            3.0,
            tay * 0.6,
            0.0,
            win(0.03, 0.2),
            T.FAT,
            where=[T.MUCOSA],
        )
        gl = params.gland_scale * _window(t, 0.12, 0.33, 0.05)
        P.ellipse(
            side * 33 * sx,
            -33 * sy,
            12 * sx * gl,
            9 * sy * gl,
            side * 0.3,
            win(0.12, 0.33),
            T.SALIVARY,
        )
        P.ellipse(side * 8 * sx, -47 * sy, 4.0, 5.5, 0.0, win(0.18, 0.31), T.MUSCLE)  # digastric
    return ph_y


def _paint_pharynx_and_larynx(neck: _Neck, spine: _Spine) -> None:
    """Pharynx with the epiglottis, hypopharynx and piriform sinuses, supraglottis and glottis,
    laryngeal cartilages and the cricoid ring."""
    T = Tissue
    t, sx, sy, P, win = neck.t, neck.sx, neck.sy, neck.P, neck.win
    yv, vay = spine.yv, spine.vay
    ph_ax, ph_ay, ph_y = _pharynx_geometry(neck, spine)
    pharynx = win(-0.3, 0.37)
    P.ellipse(0.0, ph_y, ph_ax + 3.5, ph_ay + 3.5, 0.0, pharynx, T.MUCOSA)
    P.ellipse(0.0, ph_y, ph_ax, ph_ay, 0.0, pharynx, T.AIRWAY)
    # epiglottis across the lumen (vallecula in front, hypopharynx behind)
    P.ellipse(0.0, ph_y - 0.5, ph_ax * 0.8, 1.2, 0.0, win(0.28, 0.36), T.MUCOSA)

    ylx = _kf(t, _LARYNX_Y) * sy
    larynx = win(0.36, 0.62)
    # hypopharyngeal constrictors behind the larynx
    P.ellipse(0.0, yv - vay - 9, 22 * sx, 7 * sy, 0.0, win(0.36, 0.6), T.MUCOSA)
    for side in (-1, 1):
        ps = _window(t, 0.36, 0.55, 0.04)
        P.ellipse(
            side * 13 * sx, ylx + 12, 3.5 * ps, 6.0 * ps, side * 0.3, win(0.36, 0.55), T.AIRWAY
        )
    # paraglottic fat (supraglottis) / vocal folds (glottis)
    P.ellipse(0.0, ylx, 14 * sx, 14 * sy, 0.0, win(0.36, 0.5), T.FAT)
    P.ellipse(0.0, ylx, 13 * sx, 13 * sy, 0.0, win(0.48, 0.56), T.MUSCLE)
    lumen_ax = (
        _kf(t, [(0.36, 7), (0.46, 5.5), (0.49, 3.0), (0.53, 3.0), (0.56, 7), (0.62, 7.5)]) * sx
    )
    lumen_ay = _kf(t, [(0.36, 9), (0.46, 9), (0.49, 10), (0.53, 10), (0.56, 7.5), (0.62, 8)]) * sy
    P.ellipse(0.0, ylx, lumen_ax + 2, lumen_ay + 2, 0.0, larynx, T.MUCOSA)
    P.ellipse(0.0, ylx, lumen_ax, lumen_ay, 0.0, larynx, T.AIRWAY)
    for side in (-1, 1):
        P.ellipse(side * 5 * sx, ylx + 10, 2.5, 2.5, 0.0, win(0.45, 0.53), T.CARTILAGE)
        # thyroid cartilage laminae meeting anteriorly (~90 degrees)
        P.capsule(
            0.0, ylx - 14 * sy, side * 17 * sx, ylx + 4 * sy, 1.2, win(0.38, 0.56), T.CARTILAGE
        )
    cric = win(0.55, 0.65)
    P.ellipse(0.0, ylx + 2.5, 11 * sx, 13.5 * sy, 0.0, cric, T.CARTILAGE)
    P.ellipse(0.0, ylx + 1.0, 8.3 * sx, 8.5 * sy, 0.0, cric, T.MUCOSA)
    P.ellipse(0.0, ylx + 1.0, 7.0 * sx, 7.2 * sy, 0.0, cric, T.AIRWAY)
    P.ellipse(0.0, ylx + 15, 12 * sx, 4.5 * sy, 0.0, win(0.55, 0.62), T.MUCOSA)  # post-cricoid


def _paint_trachea_and_oesophagus(neck: _Neck) -> tuple[np.ndarray, np.float32]:
    """Oesophagus (with air in some patients) and the trachea with its cartilage rings and
    flat membranous back wall. Returns the trachea's centre ``y`` and lumen radius."""
    T = Tissue
    t, sx, sy, P, win, params = neck.t, neck.sx, neck.sy, neck.P, neck.win, neck.params
    ytr = _kf(t, _TRACHEA_Y) * sy
    rtr = np.float32(params.trachea_r)
    trachea = win(0.62, 1.3)
    oes_y = ytr + rtr + 7.5
    P.ellipse(3.0, oes_y, 8.0 * sx, 4.5 * sy, 0.0, win(0.6, 1.3), T.MUCOSA)
    if params.esophagus_air:
        P.ellipse(3.0, oes_y, 1.8, 1.2, 0.0, win(0.7, 1.0), T.AIRWAY)
    P.ellipse(0.0, ytr, rtr + 2.0, rtr + 1.6, 0.0, trachea, T.CARTILAGE)
    P.ellipse(0.0, ytr, rtr, rtr * 0.92, 0.0, trachea, T.AIRWAY)
    # membranous posterior wall: flatten the lumen's back
    P.ellipse(0.0, ytr + rtr * 1.25, rtr * 0.9, rtr * 0.5, 0.0, trachea, T.MUCOSA, where=[T.AIRWAY])
    return ytr, rtr


def _paint_thyroid(neck: _Neck, ytr: np.ndarray, rtr: np.float32) -> None:
    """Thyroid lobes beside the trachea and the isthmus in front of it."""
    T = Tissue
    t, sx, sy, P, win = neck.t, neck.sx, neck.sy, neck.P, neck.win
    ths = neck.params.thyroid_scale
    for side in (-1, 1):
        tw = _window(t, 0.62, 0.92, 0.07)
        P.ellipse(
            side * (rtr + 2 + 8.5 * sx * ths),
            ytr + 1,
            8.0 * sx * ths * tw,
            12.0 * sy * ths * tw,
            side * 0.45,
            win(0.62, 0.92),
            T.THYROID,
        )
    P.ellipse(0.0, ytr - rtr - 4.5, 12 * sx * ths, 3.0, 0.0, win(0.68, 0.76), T.THYROID)


def _paint_strap_muscles(neck: _Neck) -> None:
    """Infrahyoid strap muscles: bands under the anterior fat."""
    T = Tissue
    nz, P, win = neck.nz, neck.P, neck.win
    for side in (-1, 1):
        c = np.full(nz, -90 + side * 16.0, np.float32)
        P.band(
            np.deg2rad(c),
            np.deg2rad(np.full(nz, 14.0)),
            np.full(nz, 0.6),
            np.full(nz, 4.0),
            win(0.34, 1.05),
            T.MUSCLE,
            where=[T.FAT],
        )


def _paint_sternocleidomastoid(neck: _Neck, outline: _Outline) -> _Scm:
    """Sternocleidomastoid: a curved band under the subcutaneous fat, turning from the
    mastoid (lateral, posterior) to the sternum (anterior, medial)."""
    T = Tissue
    t, nz, P, win, params = neck.t, neck.nz, neck.P, neck.win, neck.params
    scm_long = _kf(t, _SCM_LONG) * params.scm_scale
    scm_short = _kf(t, _SCM_SHORT) * params.scm_scale
    scm = {}
    for side in (-1, 1):
        ang = _kf(t, _SCM_ANGLE)
        ang = ang if side > 0 else 180 - ang
        cxs, cys, tg = outline.point(ang, scm_short + 0.6)
        rr = np.hypot(cxs, cys)
        P.band(
            np.deg2rad(ang),
            scm_long / np.maximum(rr, 1.0),
            np.full(nz, 0.6),
            2 * scm_short,
            win(-0.3, 1.1),
            T.MUSCLE,
        )
        scm[side] = (cxs, cys, tg)
    return _Scm(scm, scm_long, scm_short)


def _paint_vertebral_column(neck: _Neck, spine: _Spine) -> None:
    """Vertebral bodies and discs, C1 arch, laminae, articular pillars, transverse and
    spinous processes, and the spinal canal."""
    T = Tissue
    t, sx, P, ones = neck.t, neck.sx, neck.P, neck.ones
    yv, vax, vay, psi, disc = spine.yv, spine.vax, spine.vay, spine.psi, spine.disc
    canal_ax, canal_ay, canal_y = spine.canal_ax, spine.canal_ay, spine.canal_y
    vb = ones & (t > -0.02)
    P.ellipse(0.0, yv, vax, vay, 0.0, vb & ~disc, T.CORTICAL_BONE)
    P.ellipse(0.0, yv, vax - 1.6, vay - 1.6, 0.0, vb & ~disc, T.CANCELLOUS_BONE)
    P.ellipse(0.0, yv, vax, vay, 0.0, vb & disc, T.DISC)
    # C1 anterior arch above the dens
    P.ellipse(0.0, yv - vay - 2.5, 7.0, 2.5, 0.0, t < 0.0, T.CORTICAL_BONE)
    lam = (psi > 0.08) & (psi < 0.86)
    P.ellipse(0.0, canal_y, canal_ax + 2.6, canal_ay + 2.6, 0.0, lam | (t < 0.02), T.CORTICAL_BONE)
    for side in (-1, 1):
        # articular pillars (lateral masses)
        P.ellipse(
            side * (canal_ax + 1.5),
            canal_y - 1.0,
            6.0,
            7.5,
            0.0,
            ~((psi > 0.88) & (psi < 0.95)),
            T.CORTICAL_BONE,
        )
        P.ellipse(
            side * (canal_ax + 1.5),
            canal_y - 1.0,
            4.4,
            5.9,
            0.0,
            ones,
            T.CANCELLOUS_BONE,
            where=[T.CORTICAL_BONE],
        )
        # transverse processes with the foramen for the vertebral artery
        tp = (psi > 0.25) & (psi < 0.62)
        P.capsule(side * vax, yv + 1, side * (vax + 11 * sx), yv - 1, 2.2, tp, T.CORTICAL_BONE)
    spin = (psi > 0.2) & (psi < 0.75) & (t > 0.05)
    spl = _kf(t, [(0.0, 8), (0.6, 11), (0.9, 19), (1.2, 21)])
    P.capsule(
        0.0, canal_y + canal_ay + 2, 0.0, canal_y + canal_ay + 2 + spl, 2.6, spin, T.CORTICAL_BONE
    )
    P.capsule(
        0.0, canal_y + canal_ay + 3, 0.0, canal_y + canal_ay + 1 + spl, 1.1, spin, T.CANCELLOUS_BONE
    )
    P.ellipse(0.0, canal_y, canal_ax, canal_ay, 0.0, ones, T.CANAL)


def _paint_mandible_hyoid_mastoid(neck: _Neck, ph_y: np.ndarray) -> None:
    """Mandibular body (cortex and marrow) and rami, mastoid tips and the hyoid arch."""
    T = Tissue
    t, sx, sy, P, win, labels = neck.t, neck.sx, neck.sy, neck.P, neck.win, neck.labels
    my = ph_y - 2.0
    mand = win(0.02, 0.19)
    mth = _kf(t, [(0.0, 8), (0.12, 7.5), (0.19, 4)])
    ma, mb = 44 * sx, 54 * sy
    box = P.ellipse(0.0, my, ma, mb, 0.0, mand, None, q_out=True)
    if box is not None:
        bx, qo = box
        _, qi = P.ellipse(0.0, my, ma - mth, mb - mth, 0.0, mand, None, q_out=True, box=bx)
        _, qc = P.ellipse(0.0, my, ma - 1.8, mb - 1.8, 0.0, mand, None, q_out=True, box=bx)
        _, qc2 = P.ellipse(
            0.0, my, ma - mth + 1.8, mb - mth + 1.8, 0.0, mand, None, q_out=True, box=bx
        )
        front = P.Y[bx[1], bx[2]][None] < (my + 6)[bx[0]][:, None, None]
        bone = (qo < 1) & (qi > 1) & front
        marrow = bone & (qc < 1) & (qc2 > 1)
        view = labels[bx]
        view[bone] = T.CORTICAL_BONE
        view[marrow] = T.CANCELLOUS_BONE
    for side in (-1, 1):
        ram = win(-0.3, 0.1)
        P.ellipse(side * 44 * sx, my + 14 * sy, 4.2, 14 * sy, side * 0.12, ram, T.CORTICAL_BONE)
        P.ellipse(side * 44 * sx, my + 14 * sy, 2.2, 12 * sy, side * 0.12, ram, T.CANCELLOUS_BONE)
        P.ellipse(side * 47 * sx, 29 * sy, 7.5, 9.0, 0.0, win(-0.3, -0.06), T.CORTICAL_BONE)
    hy = win(0.30, 0.35)
    box = P.ellipse(0.0, ph_y - 4, 25 * sx, 25 * sy, 0.0, hy, None, q_out=True)
    if box is not None:
        bx, qo = box
        _, qi = P.ellipse(
            0.0, ph_y - 4, 25 * sx - 3.2, 25 * sy - 3.2, 0.0, hy, None, q_out=True, box=bx
        )
        front = P.Y[bx[1], bx[2]][None] < (ph_y - 2)[bx[0]][:, None, None]
        labels[bx][(qo < 1) & (qi > 1) & front] = T.CORTICAL_BONE


def _paint_thoracic_inlet(neck: _Neck, outline: _Outline, spine: _Spine) -> None:
    """Lung apices, clavicles and the manubrium (lowest slices)."""
    T = Tissue
    t, sx, nz, P, win = neck.t, neck.sx, neck.nz, neck.P, neck.win
    yv, vax = spine.yv, spine.vax
    for side in (-1, 1):
        la = 26 * np.sqrt(np.clip((t - 0.93) / 0.22, 0, 1)) * sx
        P.ellipse(side * (vax + 22 * sx), yv + 6, la, la * 0.85, 0.0, win(0.93, 1.4), T.LUNG)
        cl = win(0.94, 1.13)
        med_ang = _kf(t, [(0.94, 35), (1.0, 70), (1.2, 72)])
        m_ang = -med_ang if side > 0 else -180 + med_ang
        l_ang = np.full(nz, -12.0 if side > 0 else -168.0)
        mx, my_, _ = outline.point(m_ang, np.full(nz, 7.0))
        lx, ly, _ = outline.point(l_ang, np.full(nz, 11.0))
        P.capsule(mx, my_, lx, ly, 6.0, cl, T.CORTICAL_BONE)
        P.capsule(mx, my_, lx, ly, 4.3, cl, T.CANCELLOUS_BONE)
    al = outline.lean_anterior
    P.ellipse(0.0, -(al - 7), 22 * sx, 6.0, 0.0, win(1.06, 1.4), T.CORTICAL_BONE)
    P.ellipse(0.0, -(al - 7), 20 * sx, 4.2, 0.0, win(1.06, 1.4), T.CANCELLOUS_BONE)


def _paint_vessels(neck: _Neck, spine: _Spine, scm: _Scm) -> dict[str, np.ndarray]:
    """Carotid (with the external carotid above the bifurcation), internal jugular vein,
    vertebral artery, external jugular vein and small subcutaneous veins; painted last, so
    they are always visible. Returns the vessel and SCM landmarks used to place nodes."""
    T = Tissue
    t, sx, sy, P, ones, win, params = (
        neck.t,
        neck.sx,
        neck.sy,
        neck.P,
        neck.ones,
        neck.win,
        neck.params,
    )
    yv, vax = spine.yv, spine.vax
    scm_long, scm_short = scm.long, scm.short
    lm: dict[str, np.ndarray] = {}
    for si, side in enumerate((-1, 1)):
        jx, jy = params.vessel_jitter[si]
        car_x = side * (_kf(t, _CAROTID, 1) * sx + jx)
        car_y = _kf(t, _CAROTID, 2) * sy + jy
        car_r = _kf(t, [(-0.2, 2.7), (0.33, 2.8), (0.38, 4.3), (0.44, 4.0), (0.5, 3.6), (1.2, 3.8)])
        P.ellipse(car_x, car_y, car_r, car_r, 0.0, ones, T.ARTERY)
        eca = win(-0.3, 0.4)
        ex = car_x + side * _kf(t, _ECA_OFFSET, 1)
        ey = car_y + _kf(t, _ECA_OFFSET, 2)
        P.ellipse(ex, ey, 2.2, 2.2, 0.0, eca & (t < 0.37), T.ARTERY)
        ij_ang = np.deg2rad(_kf(t, _IJV_ANGLE))
        ij_a = (
            6.8 * params.ijv_scale[si] * _kf(t, [(-0.2, 0.8), (0.2, 1.0), (1.0, 1.1), (1.2, 1.3)])
        )
        ij_b = ij_a * 0.72
        dist = car_r + 1.2 + ij_b
        ijx = car_x + side * np.cos(ij_ang) * dist
        ijy = car_y + np.sin(ij_ang) * dist
        ij_theta = side * (ij_ang + np.pi / 2)
        P.ellipse(ijx, ijy, ij_a, ij_b, ij_theta, ones, T.VEIN)
        # vertebral artery (in the foramina transversaria)
        P.ellipse(side * (vax + 7 * sx), yv - 0.5, 2.0, 2.0, 0.0, ones, T.ARTERY)
        # external jugular vein in the fat over the SCM
        cxs, cys, tg = scm.centre[side]
        nx_, ny_ = -np.sin(tg), np.cos(tg)
        sgn = np.sign(nx_ * cxs + ny_ * cys)
        ejx = cxs + sgn * nx_ * (scm_short + 2.2) + np.cos(tg) * scm_long * 0.3
        ejy = cys + sgn * ny_ * (scm_short + 2.2) + np.sin(tg) * scm_long * 0.3
        P.ellipse(ejx, ejy, 2.0, 1.6, tg, win(0.15, 0.9), T.VEIN, where=[T.FAT])
        key = "left" if side > 0 else "right"
        lm[f"carotid_x_{key}"], lm[f"carotid_y_{key}"], lm[f"carotid_r_{key}"] = car_x, car_y, car_r
        lm[f"ijv_x_{key}"], lm[f"ijv_y_{key}"] = ijx, ijy
        lm[f"ijv_a_{key}"], lm[f"ijv_b_{key}"] = ij_a, ij_b
        lm[f"scm_x_{key}"], lm[f"scm_y_{key}"] = cxs, cys
    for x0, y0, dx_, dy_, r, ph in params.small_vessels:
        vx = x0 + dx_ * (t - 0.5) + 3 * np.sin(4 * t + ph)
        vy = y0 + dy_ * (t - 0.5)
        P.ellipse(vx, vy, r, r, 0.0, win(0.05, 1.0), T.VEIN, where=[T.FAT])
    return lm


def _tissue_hu(
    labels: np.ndarray,
    params: AnatomyParams,
    rng: np.random.Generator,
    subq_mask: np.ndarray,
    geom: Geometry,
) -> np.ndarray:
    """Map labels to HU and add tissue texture (noise-free)."""
    T = Tissue
    h = params.hu
    lut = np.zeros(256, dtype=np.float32)
    for code, key in (
        (T.OUTSIDE, "outside"),
        (T.FAT, "fat"),
        (T.SKIN, "skin"),
        (T.MUSCLE, "muscle"),
        (T.ARTERY, "artery"),
        (T.VEIN, "vein"),
        (T.CORTICAL_BONE, "cortical"),
        (T.CANCELLOUS_BONE, "cancellous"),
        (T.AIRWAY, "airway"),
        (T.CARTILAGE, "cartilage"),
        (T.THYROID, "thyroid"),
        (T.SALIVARY, "salivary"),
        (T.PAROTID, "parotid"),
        (T.DISC, "disc"),
        (T.CANAL, "canal"),
        (T.LUNG, "lung"),
        (T.MUCOSA, "mucosa"),
    ):
        lut[code] = h[key]
    hu = lut[labels]
    # smooth texture (lobulated glands, muscle and fat inhomogeneity) and fine
    # texture (trabecular marrow, fibrous septa of fat)
    field = _smooth_field(rng, labels.shape, 40)
    fine = _smooth_field(rng, labels.shape, 110)
    amp = np.zeros(256, dtype=np.float32)
    amp[T.FAT] = 5
    amp[T.MUSCLE] = 5
    amp[T.MUCOSA] = 7
    amp[T.SALIVARY] = 9
    amp[T.PAROTID] = 14
    amp[T.THYROID] = 10
    amp[T.CANCELLOUS_BONE] = 45
    amp[T.CARTILAGE] = 15
    amp[T.VEIN] = 8
    amp_fine = np.zeros(256, dtype=np.float32)
    amp_fine[T.CANCELLOUS_BONE] = 55
    amp_fine[T.MUSCLE] = 4  # fine inhomogeneity (fibres, intramuscular fat)
    amp_fine[T.SALIVARY] = 6
    amp_fine[T.THYROID] = 6
    hu += amp[labels] * field
    hu += amp_fine[labels] * fine
    # fibrous septa in fat: thin curvilinear strands at the zero set of a field
    septa_w = np.where(
        labels == T.FAT, np.where(subq_mask, np.float32(35), np.float32(14)), np.float32(0)
    )
    hu += septa_w * np.exp(-np.square(fine * np.float32(15.0)))
    # patchy ossification of the laryngeal cartilages with age
    cart = np.nonzero(labels == T.CARTILAGE)
    oss = np.clip((fine[cart] + 0.8 * field[cart]) - (1.4 - 2.2 * params.ossification), 0, 1.5)
    hu[cart] += 420 * oss
    # slight through-slice partial volume (slice sensitivity profile tails)
    w = 0.12 if geom.slice_thickness < 4 else 0.08
    out = hu.copy()
    out[1:] += w * (hu[:-1] - hu[1:])
    out[:-1] += w * (hu[1:] - hu[:-1])
    return out
