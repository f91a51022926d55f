"""Cervical lymph nodes: placement, shape, enhancement and the CT signs of ENE.

Placement
    Nodes sit at their neck level (``LEVEL_T``: II upper jugular, III middle
    jugular, IV lower jugular, V posterior triangle, VI central, IB
    submandibular) in the fat around the internal jugular vein and deep to the
    sternocleidomastoid, as lymph nodes of laryngeal / hypopharyngeal cancer do
    (001: levels II-IV).  A candidate position is accepted only if the node,
    inflated by a safety margin, covers no vessel, bone, cartilage, airway,
    gland, thyroid or other node and little muscle; nodes are placed largest
    first.

Shape
    An ellipsoid with its long axis roughly cranio-caudal (tilted up to ~25
    degrees), the short and intermediate axes in the axial plane.  Benign nodes
    are oval/reniform (long/short 1.5-2.3, half of them with a fatty hilum);
    metastatic nodes are rounder (1.1-1.6) and ENE nodes round (1.0-1.4): loss
    of the oval shape is a sign of malignancy (000).

Enhancement
    Viable nodal tissue enhances to 45-65 HU (profile ``node_hu``); metastatic
    nodes are heterogeneous and, increasingly with size, centrally necrotic
    (10-25 HU) with a thick enhancing rim: "nodal necrosis ... inhomogeneous
    nodal enhancement ... thick-walled, enhancing nodal margins" (000).

ENE (``ENE_GRADES``)
    000 lists the CT features of ENE: indistinct or irregular margins,
    perinodal fat stranding, absence of the perinodal fat plane, necrosis,
    matting and invasion of surrounding structures; 001 notes that the most
    severe grade "invaded beyond perinodal fat to encase surrounding
    structures" while early ENE is subtle.  The generator grades ENE 1-4 by
    pathologic extent beyond the capsule (``cohort.ENE_EXTENT_MM``) and scales
    every sign with the grade: irregular margin (in the mask), blurred margin,
    tumour spicules reaching ``ene_extent_mm`` into the fat (outside the mask,
    as a segmenter leaves them), fat stranding (fat HU raised by up to ~80 HU
    in streaks), loss of the fat plane against muscle and, for grade 4 (and
    some grade 3), infiltration of the adjacent muscle.

Mask
    The node "as a segmenter would outline it": the nodal body including its
    irregular margin, thresholded at 50 % partial-volume occupancy of each
    voxel (the slice thickness is sampled at 1 mm steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import Anatomy, Bulge, Geometry, Tissue
from .cohort import NodePlan
from .profiles import Profile

__all__ = ["ENE_GRADES", "LEVEL_T", "RenderedNode", "place_and_render_nodes", "plan_bulges"]

#: Cranio-caudal extent of each neck level, in the normalised level t.
LEVEL_T: dict[str, tuple[float, float]] = {
    "II": (0.10, 0.33),
    "III": (0.33, 0.60),
    "IV": (0.60, 0.90),
    "V": (0.28, 0.88),
    "VI": (0.64, 0.92),
    "IB": (0.12, 0.28),
}


@dataclass(frozen=True)
class EneSigns:
    """CT appearance of one ENE grade (all lengths in mm, HU offsets in HU)."""

    description: str
    margin_irregularity: float  # amplitude of the irregular capsule (inside the mask)
    margin_blur: float  # width of the ill-defined edge
    stranding_hu: float  # rise of the perinodal fat HU at the capsule
    stranding_width: float  # extra width of the stranded shell beyond the extent
    fat_plane: float  # preserved fat plane against muscle (mm); 0 = lost
    muscle_invasion: float  # probability of infiltrating the adjacent muscle


ENE_GRADES: dict[int, EneSigns] = {
    1: EneSigns(
        description="microscopic (<= 1 mm): capsule irregular, faint stranding",
        margin_irregularity=0.35,
        margin_blur=0.45,
        stranding_hu=15,
        stranding_width=1.5,
        fat_plane=0.6,
        muscle_invasion=0.0,
    ),
    2: EneSigns(
        description="microscopic (1-2 mm): indistinct margin, mild perinodal stranding",
        margin_irregularity=0.8,
        margin_blur=0.8,
        stranding_hu=35,
        stranding_width=2.0,
        fat_plane=0.3,
        muscle_invasion=0.0,
    ),
    3: EneSigns(
        description="macroscopic (> 2 mm): spiculated margin into the perinodal fat, marked stranding",
        margin_irregularity=1.5,
        margin_blur=1.2,
        stranding_hu=65,
        stranding_width=3.0,
        fat_plane=0.0,
        muscle_invasion=0.35,
    ),
    4: EneSigns(
        description="gross (> 6 mm): infiltration of adjacent muscle, fat planes lost",
        margin_irregularity=2.2,
        margin_blur=1.6,
        stranding_hu=90,
        stranding_width=4.0,
        fat_plane=0.0,
        muscle_invasion=1.0,
    ),
}

#: Measured-minus-designed short axis (mm) per (class, ENE grade), see _make_shape.
_SIZE_BIAS_MM: dict[tuple[str, int], float] = {
    ("benign", 0): 0.7,
    ("metastasis", 0): 0.9,
    ("ene", 1): 1.2,
    ("ene", 2): 1.6,
    ("ene", 3): 1.9,
    ("ene", 4): 2.6,
}

_FORBIDDEN = np.zeros(256, dtype=bool)
for _t in (
    Tissue.OUTSIDE,
    Tissue.SKIN,
    Tissue.ARTERY,
    Tissue.VEIN,
    Tissue.CORTICAL_BONE,
    Tissue.CANCELLOUS_BONE,
    Tissue.AIRWAY,
    Tissue.CARTILAGE,
    Tissue.THYROID,
    Tissue.DISC,
    Tissue.CANAL,
    Tissue.LUNG,
    Tissue.MUCOSA,
    Tissue.NODE,
    Tissue.NECROSIS,
    Tissue.HILUM,
):
    _FORBIDDEN[_t] = True
_SOFT = np.zeros(256, dtype=bool)
for _t in (Tissue.MUSCLE, Tissue.SALIVARY, Tissue.PAROTID):
    _SOFT[_t] = True


@dataclass
class RenderedNode:
    """A node as rendered: plan, label, final geometry and the signs it shows."""

    plan: NodePlan
    label: int
    node_id: str
    level: str
    center_mm: tuple[float, float, float]  # anatomical frame
    semi_axes_mm: tuple[float, float, float]  # short, intermediate, long
    greatest_dimension_mm: float
    voxels: int = 0
    signs: dict[str, float | bool | str] = field(default_factory=dict)


@dataclass
class _Shape:
    center: np.ndarray  # (3,)
    axes: np.ndarray  # (3, 3) columns = unit axes (short, mid, long)
    semi: np.ndarray  # (3,)
    bump_dirs: np.ndarray  # (K, 3) unit vectors in normalised coordinates
    bump_amp: np.ndarray  # (K,) mm
    bump_kappa: np.ndarray  # (K,)
    spic_dirs: np.ndarray
    spic_len: np.ndarray
    spic_kappa: np.ndarray

    @property
    def extent(self) -> float:
        extra = float(self.bump_amp.max(initial=0.0)) + float(self.spic_len.max(initial=0.0))
        return float(self.semi.max()) + extra


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _random_dirs(rng: np.random.Generator, k: int) -> np.ndarray:
    return _unit(rng.normal(size=(k, 3)))


class _Field:
    """Evaluates a node shape on a box of voxels (several z samples per slice)."""

    def __init__(self, shape: _Shape, X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> None:
        # X, Y: (h, w) anatomical mm; Z: (n,) z samples -> arrays (n, h, w)
        ax = shape.axes.astype(np.float32)
        dx = (X - np.float32(shape.center[0]))[None].astype(np.float32)
        dy = (Y - np.float32(shape.center[1]))[None].astype(np.float32)
        dz = (Z - shape.center[2]).astype(np.float32)[:, None, None]
        semi = shape.semi.astype(np.float32)
        u = [dx * ax[0, j] + dy * ax[1, j] + dz * ax[2, j] for j in range(3)]
        n = [u[j] / semi[j] for j in range(3)]
        rho = np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) + np.float32(1e-6)
        g = [u[j] / (semi[j] * semi[j]) for j in range(3)]
        grad = np.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) / rho + np.float32(1e-6)
        self.u = np.stack(u)
        self.rho = rho
        self.sd = (rho - 1.0) / grad  # signed distance to the ellipsoid (mm, approx.)
        self.s = np.stack(n) / rho  # direction on the unit sphere (normalised frame)
        self.shape = shape


def _lobes(s: np.ndarray, dirs: np.ndarray, amp: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Sum of von Mises-like bumps on the unit sphere, amp * exp(kappa (s.n - 1)).

    ``s``: (3, ...) unit directions.  Used for lobulation and irregular margins
    (broad and medium bumps), tumour spicules and fat-stranding streaks (narrow).
    """
    out = np.zeros(s.shape[1:], np.float32)
    if len(dirs) == 0:
        return out
    flat = s.reshape(3, -1).astype(np.float32)
    d = np.asarray(dirs, np.float32)
    # explicit 3-term dot products (no BLAS: bit-identical whatever the thread count)
    dots = d[:, 0:1] * flat[0] + d[:, 1:2] * flat[1] + d[:, 2:3] * flat[2]
    dots -= 1.0
    dots *= np.asarray(kappa, np.float32)[:, None]
    np.exp(dots, out=dots)
    dots *= np.asarray(amp, np.float32)[:, None]
    return dots.sum(axis=0).reshape(s.shape[1:])


def _smooth_noise(rng: np.random.Generator, k: int = 6, wavelength: float = 6.0):
    """Random smooth function of local coordinates: a sum of k plane waves."""
    dirs = _random_dirs(rng, k).astype(np.float32)
    freqs = (2 * np.pi / (wavelength * rng.uniform(0.7, 1.4, size=k))).astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=k).astype(np.float32)

    def f(u: np.ndarray) -> np.ndarray:
        arg = np.einsum("kj,j...->k...", dirs * freqs[:, None], u)
        return (np.cos(arg + phases[:, None, None, None]).sum(axis=0) * np.sqrt(2.0 / k)).astype(
            np.float32
        )

    return f


def _make_shape(
    rng: np.random.Generator,
    plan: NodePlan,
    center: np.ndarray,
    short_axis: float,
    extent_mm: float,
    radial: bool = False,
) -> _Shape:
    cls = plan.reference
    if cls == "benign":
        r_long, r_mid = rng.uniform(1.5, 2.3), rng.uniform(1.05, 1.45)
    elif cls == "metastasis":
        r_long, r_mid = rng.uniform(1.1, 1.6), rng.uniform(1.0, 1.3)
    else:
        r_long, r_mid = rng.uniform(1.0, 1.4), rng.uniform(1.0, 1.25)
    # The measured short axis of the mask exceeds the ellipsoid's by the margin
    # lobulation / irregularity (calibrated on generated cohorts): subtract it so
    # that the *measured* sizes match 001's.
    a = max(short_axis - _SIZE_BIAS_MM.get((cls, int(plan.ene_grade or 0)), 0.8), 2.5) / 2.0
    semi = np.array([a, a * r_mid, a * r_long])
    # long axis ~ cranio-caudal, tilted; short/intermediate axes in the axial plane
    tilt = np.deg2rad(min(abs(rng.normal(0, 12)), 25))
    az = rng.uniform(0, 2 * np.pi)
    e3 = np.array([np.sin(tilt) * np.cos(az), np.sin(tilt) * np.sin(az), np.cos(tilt)])
    g = rng.uniform(0, np.pi)
    if radial:  # bulky node flattened against the neck: short axis points outwards
        g = float(np.arctan2(center[1], center[0])) + rng.normal(0, 0.2)
    tmp = np.array([np.cos(g), np.sin(g), 0.0])
    e1 = _unit(tmp - e3 * (tmp @ e3))
    e2 = np.cross(e3, e1)
    axes = np.stack([e1, e2, e3], axis=1)
    # gentle lobulation for every node
    k = 6
    dirs = _random_dirs(rng, k)
    lob = {"benign": 0.2, "metastasis": 0.45, "ene": 0.5}[cls]
    amp = np.abs(rng.normal(lob, lob * 0.4, size=k))
    kap = rng.uniform(3, 6, size=k)
    spic_d = np.zeros((0, 3))
    spic_l = np.zeros(0)
    spic_k = np.zeros(0)
    if cls == "ene":
        sign = ENE_GRADES[int(plan.ene_grade or 1)]
        k2 = int(rng.integers(8, 14))
        dirs = np.concatenate([dirs, _random_dirs(rng, k2)])
        amp = np.concatenate(
            [amp, np.abs(rng.normal(sign.margin_irregularity, 0.3 * sign.margin_irregularity, k2))]
        )
        kap = np.concatenate([kap, rng.uniform(12, 28, size=k2)])
        if extent_mm > 1.0:
            k3 = int(rng.integers(5, 12))
            spic_d = _random_dirs(rng, k3)
            spic_l = extent_mm * rng.uniform(0.5, 1.0, size=k3)
            spic_l[0] = extent_mm  # the deepest tongue reaches the recorded extent
            spic_k = rng.uniform(25, 90, size=k3)
    return _Shape(
        center=center.astype(float),
        axes=axes,
        semi=semi,
        bump_dirs=dirs,
        bump_amp=amp.astype(np.float32),
        bump_kappa=kap.astype(np.float32),
        spic_dirs=spic_d,
        spic_len=spic_l.astype(np.float32),
        spic_kappa=spic_k.astype(np.float32),
    )


class _Box:
    """Voxel box around a node: slice range, row/col slices and z samples."""

    def __init__(
        self, anatomy: Anatomy, geom: Geometry, center: np.ndarray, radius: float, n_sub: int
    ) -> None:
        # pixel (row, col) <- anatomical (x, y): invert the patient rotation
        rot = np.deg2rad(float(anatomy.landmarks["rotation_deg"][0]))
        c, s_ = np.cos(rot), np.sin(rot)
        corners = np.array(
            [
                [center[0] + dx, center[1] + dy]
                for dx in (-radius, radius)
                for dy in (-radius, radius)
            ]
        )
        xx = c * corners[:, 0] - s_ * corners[:, 1]
        yy = s_ * corners[:, 0] + c * corners[:, 1]
        ps = geom.pixel_spacing
        c0 = int(np.floor((xx.min() - geom.x[0]) / ps))
        c1 = int(np.ceil((xx.max() - geom.x[0]) / ps)) + 1
        r0 = int(np.floor((yy.min() - geom.y[0]) / ps))
        r1 = int(np.ceil((yy.max() - geom.y[0]) / ps)) + 1
        k0 = int(np.searchsorted(geom.z, center[2] - radius - geom.slice_thickness))
        k1 = int(np.searchsorted(geom.z, center[2] + radius + geom.slice_thickness, side="right"))
        self.touches_edge = (
            r0 <= 0
            or c0 <= 0
            or r1 >= geom.rows
            or c1 >= geom.cols
            or k0 <= 0
            or k1 >= geom.n_slices
        )
        r0, c0, k0 = max(r0, 0), max(c0, 0), max(k0, 0)
        r1, c1, k1 = min(r1, geom.rows), min(c1, geom.cols), min(k1, geom.n_slices)
        self.ok = r1 > r0 and c1 > c0 and k1 > k0
        if not self.ok:
            return
        self.ks, self.rs, self.cs = slice(k0, k1), slice(r0, r1), slice(c0, c1)
        self.X = anatomy.X[self.rs, self.cs]
        self.Y = anatomy.Y[self.rs, self.cs]
        zc = geom.z[self.ks]
        off = (np.arange(n_sub) + 0.5) / n_sub - 0.5
        self.n_sub = n_sub
        self.zc = zc
        self.zs = (zc[:, None] + off[None] * geom.slice_thickness).ravel()

    @property
    def index(self) -> tuple[slice, slice, slice]:
        return (self.ks, self.rs, self.cs)


BULKY_MM = 18.0  # nodes at least this large bulge the neck and may compress the IJV


def plan_bulges(plans: list[NodePlan], rng: np.random.Generator) -> list[Bulge | None]:
    """Choose level position and neck-contour bulge of the bulky nodes (one entry per plan).

    Several bulky nodes on one side are spread over levels II, III and IV.
    """
    out: list[Bulge | None] = []
    used: dict[str, list[str]] = {"left": [], "right": []}
    for plan in plans:
        if plan.short_axis_mm < BULKY_MM:
            out.append(None)
            continue
        level = plan.level if plan.level in ("II", "III", "IV") else "III"
        if level in used[plan.side]:
            free = [lv for lv in ("III", "II", "IV") if lv not in used[plan.side]]
            if not free:
                out.append(None)
                continue
            level = free[0]
        used[plan.side].append(level)
        t_lo, t_hi = LEVEL_T[level]
        lateral = rng.uniform(-40.0, 5.0)  # degrees from lateral, negative = anterior
        angle = lateral if plan.side == "left" else 180.0 - lateral
        out.append(
            {
                "t": float(0.5 * (t_lo + t_hi) + rng.uniform(-0.04, 0.04)),
                "angle_deg": float(angle),
                "amp_mm": float(np.clip(plan.short_axis_mm - 12.0, 3.0, 20.0)),
                "size_mm": float(plan.short_axis_mm),
                "level": level,
            }
        )
    return out


def _candidate(
    rng: np.random.Generator,
    level: str,
    side: str,
    lm: dict[str, np.ndarray],
    geom: Geometry,
    r_node: float,
    hint: Bulge | None = None,
) -> np.ndarray:
    t_lo, t_hi = LEVEL_T[level]
    tt = rng.uniform(t_lo, t_hi) if hint is None else hint["t"] + rng.normal(0, 0.02)
    k = int(np.argmin(np.abs(lm["t"] - tt)))
    z = float(geom.z[k] + rng.uniform(-0.5, 0.5) * geom.slice_thickness)
    sgn = 1.0 if side == "left" else -1.0
    key = side
    if hint is not None:
        # bulky node under the (bulging) sternocleidomastoid
        ang = np.deg2rad(hint["angle_deg"] + rng.normal(0, 6))
        nb = lm["_r_lean"].shape[1]
        b = int(np.clip((ang + np.pi) / (2 * np.pi) * nb, 0, nb - 1))
        r = lm["_r_lean"][k, b] - r_node / 1.2 - rng.uniform(-1.0, 5.0)
        x, y = r * np.cos(ang), r * np.sin(ang)
    elif level in ("II", "III", "IV"):
        beta = np.deg2rad(rng.uniform(-120, 140))  # 0 = lateral, >0 posterior
        ijx, ijy = lm[f"ijv_x_{key}"][k], lm[f"ijv_y_{key}"][k]
        dist = lm[f"ijv_a_{key}"][k] + rng.uniform(1.5, 5.0) + r_node
        x = ijx + sgn * np.cos(beta) * dist
        y = ijy + np.sin(beta) * dist
    elif level == "V":
        phi = np.deg2rad(rng.uniform(18, 55))
        ang = phi if side == "left" else np.pi - phi
        nb = lm["_r_lean"].shape[1]
        b = int(np.clip((ang + np.pi) / (2 * np.pi) * nb, 0, nb - 1))
        r = lm["_r_lean"][k, b] - rng.uniform(6, 14) - r_node
        x, y = r * np.cos(ang), r * np.sin(ang)
    elif level == "VI":
        rtr = lm["trachea_r"][k]
        x = sgn * (rtr + rng.uniform(3, 7) + r_node)
        y = lm["trachea_y"][k] + rng.uniform(-4, 8)
    else:  # IB
        x = sgn * rng.uniform(22, 42)
        y = rng.uniform(-50, -32)
    return np.array([x, y, z])


def _clearance(anatomy: Anatomy, geom: Geometry, k: int) -> np.ndarray:
    """In-plane distance (mm) to the nearest forbidden tissue on slice ``k``, at 1/4
    resolution (cached per slice; nodes placed later are caught by the exact check)."""
    cache = anatomy.landmarks.setdefault("_clearance", {})  # type: ignore[arg-type]
    if k not in cache:
        from scipy import ndimage

        free = ~_FORBIDDEN[anatomy.labels[k, ::4, ::4]]
        cache[k] = ndimage.distance_transform_edt(free, sampling=4 * geom.pixel_spacing).astype(
            np.float32
        )
    return cache[k]


def _clear_candidate(
    rng: np.random.Generator, level: str, side: str, anatomy: Anatomy, geom: Geometry, need: float
) -> np.ndarray | None:
    """A centre at the node's level and side with at least ``need`` mm of in-plane clearance."""
    lm = anatomy.landmarks
    t_lo, t_hi = LEVEL_T[level]
    ks = np.nonzero((lm["t"] >= t_lo) & (lm["t"] <= t_hi))[0]
    if ks.size == 0:
        return None
    k = int(rng.choice(ks))
    clear = _clearance(anatomy, geom, k)
    X = anatomy.X[::4, ::4]
    Y = anatomy.Y[::4, ::4]
    sgn = 1.0 if side == "left" else -1.0
    ok = (clear >= need) & (sgn * X > 8.0) & (anatomy.labels[k, ::4, ::4] == Tissue.FAT)
    w = np.ones_like(X)
    if level in ("II", "III", "IV"):
        # around the internal jugular vein, not far in front of it (that is level I/VI)
        ijy = lm[f"ijv_y_{side}"][k]
        d = np.hypot(X - lm[f"ijv_x_{side}"][k], Y - ijy)
        ok &= (d < 26.0) & (ijy - 14.0 < Y)
        w = np.exp(-d / 10.0)
    elif level == "V":
        # posterior triangle: behind the vein, lateral to the spine
        ok &= (lm["vert_y"][k] - 5 < Y) & (sgn * X > 30.0)
    elif level == "VI":
        # central compartment: paratracheal / pretracheal
        d = np.hypot(X, Y - lm["trachea_y"][k])
        ok &= d < lm["trachea_r"][k] + 16.0
    else:  # IB: submandibular triangle
        ok &= (Y < -22.0) & (sgn * X > 12.0)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return None
    p = w.ravel()[idx]
    i = int(rng.choice(idx, p=p / p.sum()))
    r, c = divmod(i, X.shape[1])
    z = float(geom.z[k] + rng.uniform(-0.5, 0.5) * geom.slice_thickness)
    j = 2.0 * geom.pixel_spacing
    return np.array([float(X[r, c]) + rng.uniform(-j, j), float(Y[r, c]) + rng.uniform(-j, j), z])


def _check(
    anatomy: Anatomy,
    geom: Geometry,
    shape: _Shape,
    margin: float,
    need_muscle: bool,
    max_muscle: float,
    max_vein: float = 0.0,
) -> tuple[bool, float]:
    """Is the node (inflated by ``margin``) free of forbidden tissue?  Returns (ok, badness)."""
    bump = float(shape.bump_amp.max(initial=0.0))
    box = _Box(anatomy, geom, shape.center, float(shape.semi.max()) + bump + margin + 1.0, 1)
    if not box.ok or box.touches_edge:
        return False, 1e9
    f = _Field(shape, box.X, box.Y, box.zc)
    sd = f.sd - bump  # conservative: as if every bump pointed everywhere
    lab = anatomy.labels[box.index]
    region = sd < margin
    core = sd < 0
    n = int(core.sum())
    if n == 0:
        return False, 1e9
    forbidden = _FORBIDDEN[lab]
    if max_vein > 0:
        # a bulky node may compress the internal jugular vein (mass effect)
        vein = lab == Tissue.VEIN
        if float((vein & core).sum()) / n <= max_vein:
            forbidden = forbidden & ~vein
    forb = int((forbidden & region).sum())
    soft = float((_SOFT[lab] & core).sum()) / n
    touch = bool((_SOFT[lab] & region).any())
    bad = forb + 10 * max(0.0, soft - max_muscle) * n
    ok = forb == 0 and soft <= max_muscle and (touch or not need_muscle)
    return ok, bad + (0 if touch or not need_muscle else 5)


def place_and_render_nodes(
    plans: list[NodePlan],
    anatomy: Anatomy,
    geom: Geometry,
    profile: Profile,
    rng: np.random.Generator,
    hints: list[Bulge | None] | None = None,
) -> tuple[np.ndarray, list[RenderedNode]]:
    """Place every planned node, paint it into ``anatomy`` (HU and labels) and return the mask.

    Returns the node label map (uint8, 0 = background, node i = label i) and
    the rendered nodes in label order (N1..Nk from skull base to clavicles).
    """
    lm = anatomy.landmarks
    node_map = np.zeros(geom.shape, dtype=np.uint8)
    order = sorted(range(len(plans)), key=lambda i: -plans[i].short_axis_mm)
    rendered: list[RenderedNode] = []
    n_sub = max(3, int(round(geom.slice_thickness / 1.0)))
    for label, idx in enumerate(order, start=1):
        plan = plans[idx]
        extent = float(plan.ene_extent_mm or 0.0)
        grade = int(plan.ene_grade or 0)
        invade = plan.reference == "ene" and rng.random() < ENE_GRADES[grade].muscle_invasion
        big = plan.short_axis_mm
        hint = hints[idx] if hints else None
        max_muscle = 0.35 if invade else (0.3 if big > 20 else 0.2 if big > 12 else 0.12)
        if hint is not None:
            max_muscle = 0.5
        max_vein = 0.08 if hint is not None else 0.0
        margin = 1.5
        best = None
        level = plan.level
        size = plan.short_axis_mm
        placed = None
        for attempt in range(240):
            if attempt in (100, 170):
                level = str(rng.choice(["II", "III", "IV"]))
                hint = None
            if attempt in (130, 190, 215):
                size *= 0.92
            r_node = 0.5 * size * 1.2
            lv = level if hint is None else str(hint["level"])
            if attempt % 2 == 1 and attempt >= 20:
                # guided by the free-space map: centres with enough clearance
                need = 0.5 * size * 1.15 + margin + float(extent > 0) * 1.0
                center = _clear_candidate(rng, lv, plan.side, anatomy, geom, need)
                if center is None:
                    center = _candidate(rng, lv, plan.side, lm, geom, r_node, hint)
            else:
                center = _candidate(rng, lv, plan.side, lm, geom, r_node, hint)
            shape = _make_shape(rng, plan, center, size, extent, radial=hint is not None)
            ok, bad = _check(
                anatomy, geom, shape, margin, invade and attempt < 120, max_muscle, max_vein
            )
            if ok:
                placed = shape
                break
            if best is None or bad < best[0]:
                best = (bad, shape)
        for attempt in range(60):
            if placed is not None:
                break
            # last resort: a smaller node wherever there is room at levels II-IV
            if attempt % 10 == 0:
                size *= 0.9
            lv = str(rng.choice(["II", "III", "IV"]))
            center = _clear_candidate(rng, lv, plan.side, anatomy, geom, 0.5 * size * 1.15 + margin)
            if center is None:
                continue
            shape = _make_shape(rng, plan, center, size, extent)
            ok, bad = _check(anatomy, geom, shape, margin, False, max_muscle, max_vein)
            if ok:
                placed, level = shape, lv
        fallback = placed is None
        if placed is None:
            if best is None:
                raise RuntimeError(f"no position found for node {label} of the patient")
            placed = best[1]  # least-bad candidate (rare: very crowded neck)
        node = RenderedNode(
            plan=plan,
            label=label,
            node_id=f"N{label}",
            level=level,
            center_mm=(float(placed.center[0]), float(placed.center[1]), float(placed.center[2])),
            semi_axes_mm=(float(placed.semi[0]), float(placed.semi[1]), float(placed.semi[2])),
            greatest_dimension_mm=float(2 * placed.semi.max()),
        )
        if hint is not None and level == plan.level:
            level = str(hint["level"])
        if fallback:
            node.signs["placement"] = "fallback"
        _render(node, placed, anatomy, geom, profile, rng, node_map, n_sub, invade)
        rendered.append(node)
    # number the nodes cranio-caudally (N1 = most superior; right before left at
    # equal height), not in placement order (largest first), which would hint at
    # the class
    by_height = sorted(rendered, key=lambda n: (-round(n.center_mm[2], 1), n.center_mm[0]))
    lut = np.zeros(256, dtype=np.uint8)
    for new, node in enumerate(by_height, start=1):
        lut[node.label] = new
        node.label = new
        node.node_id = f"N{new}"
    return lut[node_map], by_height


def _render(
    node: RenderedNode,
    shape: _Shape,
    anatomy: Anatomy,
    geom: Geometry,
    profile: Profile,
    rng: np.random.Generator,
    node_map: np.ndarray,
    n_sub: int,
    invade: bool,
) -> None:
    """Paint one node (HU, tissue labels, mask) with its class- and grade-specific signs.

    Occupancy (mask and HU blending) is averaged over ``n_sub`` samples across
    the slice thickness (through-plane partial volume); the internal pattern
    and the perinodal signs are evaluated at the slice centre.
    """
    T = Tissue
    plan = node.plan
    cls = plan.reference
    grade = int(plan.ene_grade or 0)
    extent = float(plan.ene_extent_mm or 0.0)
    px = geom.pixel_spacing

    if cls == "ene":
        sign = ENE_GRADES[grade]  # every ENE node has a grade (cohort.plan_cohort)
        strand_hu = sign.stranding_hu * rng.uniform(0.75, 1.25)
        strand_w = extent + sign.stranding_width
        blur = sign.margin_blur
        fat_plane = sign.fat_plane
    else:
        # reactive perinodal haze in a few non-ENE nodes: a realistic confounder
        reactive = rng.random() < (0.15 if cls == "metastasis" else 0.05)
        strand_hu = rng.uniform(6, 14) if reactive else 0.0
        strand_w = 2.0
        blur = 0.25
        fat_plane = 1.0
    bump_max = float(shape.bump_amp.max(initial=0.0))
    spic_max = float(shape.spic_len.max(initial=0.0))
    reach = max(strand_w if strand_hu > 0 else 0.0, fat_plane, spic_max) + 1.0
    box = _Box(anatomy, geom, shape.center, float(shape.semi.max()) + bump_max + reach + 1.0, n_sub)
    nk = box.zc.size
    hw = box.X.shape

    # occupancy over sub-slices (bumps evaluated at the slice centre, reused)
    fc = _Field(shape, box.X, box.Y, box.zc)
    bumps_c = _lobes(fc.s, shape.bump_dirs, shape.bump_amp, shape.bump_kappa)
    fs = _Field(shape, box.X, box.Y, box.zs)
    sd_sub = fs.sd.reshape((nk, n_sub) + hw) - bumps_c[:, None]
    occ_mask = np.clip(0.5 - sd_sub / px, 0, 1).mean(axis=1)
    occ_hu = np.clip(0.5 - sd_sub / max(blur, 0.5 * px), 0, 1).mean(axis=1)
    mask = occ_mask >= 0.5
    if not mask.any():  # tiny node between slice centres: keep its most occupied voxels
        mask = occ_mask >= 0.5 * occ_mask.max()
    sd_c = fc.sd - bumps_c  # signed distance to the (irregular) capsule at slice centres
    out_c = np.clip(sd_c, 0, None)
    u_c, rho_c, s_c = fc.u, fc.rho, fc.s

    lab = anatomy.labels[box.index]
    hu = anatomy.hu[box.index]
    bg_fat = lab == T.FAT
    fat_hu = _fat_hu(anatomy)

    # ---- nodal tissue ----
    base = profile.node_hu[cls] + rng.normal(0, 4)
    het_amp = {"benign": 3.0, "metastasis": 9.0, "ene": 11.0}[cls]
    node_hu = base + het_amp * _smooth_noise(rng, 6, 5.0)(u_c)
    necrosis = np.zeros((nk,) + hw, np.float32)
    s_short = 2 * float(shape.semi[0])
    if cls != "benign":
        p_nec = float(
            np.clip((0.05 if cls == "metastasis" else 0.25) + 0.06 * (s_short - 6), 0, 0.92)
        )
        if rng.random() < p_nec:
            frac = float(np.clip(rng.uniform(0.35, 0.6) + 0.01 * (s_short - 10), 0.3, 0.75))
            off = rng.uniform(-0.15, 0.15, size=3)
            nrm = u_c / (shape.semi[:, None, None, None] * frac) - off[:, None, None, None]
            rn = np.sqrt((nrm * nrm).sum(axis=0))
            wob = 0.15 * _smooth_noise(rng, 5, 4.0)(u_c)
            edge = 0.8 / (frac * float(shape.semi.min()))
            necrosis = np.clip(0.5 - (rn + wob - 1.0) / edge, 0, 1).astype(np.float32)
            nec_hu = rng.uniform(8, 18)
            rim = 8.0  # thick enhancing wall around the necrosis
            node_hu = (node_hu + rim) * (1 - necrosis) + (
                nec_hu + 3 * _smooth_noise(rng, 4, 3.0)(u_c)
            ) * necrosis
            node.signs["necrosis"] = True
    hilum = np.zeros_like(necrosis)
    if cls == "benign" and s_short >= 5 and rng.random() < 0.45:
        side = 1.0 if rng.random() < 0.5 else -1.0  # a notch on one side of the intermediate axis
        hilum = np.clip((side * s_c[1] - 0.8) / 0.1, 0, 1) * np.clip((rho_c - 0.35) / 0.2, 0, 1)
        node_hu = node_hu * (1 - 0.8 * hilum) + fat_hu * 0.8 * hilum
        node.signs["fatty_hilum"] = True

    # ---- perinodal signs, evaluated only in the shell around the node ----
    shell = (sd_c > 0) & (sd_c < reach)
    idx = np.nonzero(shell)
    s_sh = s_c[:, idx[0], idx[1], idx[2]]
    out_sh = out_c[idx]
    add = np.zeros(idx[0].size, np.float32)
    if strand_hu > 0:
        # fat stranding: linear strands radiating from the capsule plus a faint haze
        k = int(rng.integers(14, 26))
        streak = _lobes(s_sh[:, None], _random_dirs(rng, k), np.ones(k), rng.uniform(30, 120, k))[0]
        pattern = 0.4 + 0.6 * np.clip(streak, 0, 1)
        fall = np.exp(-out_sh / max(0.6 * strand_w, 0.5)) * np.clip((strand_w - out_sh) / 1.5, 0, 1)
        add += (strand_hu * pattern * fall).astype(np.float32)
        node.signs["stranding_hu"] = round(float(strand_hu), 1)
    strand_full = np.zeros_like(hu)
    strand_full[idx] = add
    strand_full *= bg_fat
    hu += strand_full
    if spic_max > 0:
        # tumour tongues reaching ene_extent_mm into the fat (outside the mask)
        sp = _lobes(s_sh[:, None], shape.spic_dirs, shape.spic_len, shape.spic_kappa)[0]
        tongue = np.clip(1.0 - out_sh / np.maximum(sp, 1e-3), 0, 1) * (sp > 0.3) * 0.85
        t_full = np.zeros_like(hu)
        t_full[idx] = tongue
        soft_bg = bg_fat | (lab == T.MUSCLE)
        hu += np.where(soft_bg, t_full * (base - hu), 0.0).astype(np.float32)
    if invade:
        # infiltration of the adjacent muscle: irregular, slightly hyperdense tumour
        musc = lab == T.MUSCLE
        reach_m = max(extent, 2.0)
        inf = np.clip(1 - out_c / reach_m, 0, 1) * (sd_c > 0) * musc
        patt = 0.5 + 0.5 * np.clip(_smooth_noise(rng, 6, 3.0)(u_c), -1, 1)
        hu += (inf * patt * (base + 8 - hu) * 0.8).astype(np.float32)
        node.signs["muscle_invasion"] = bool(inf.max() > 0.2)
    if fat_plane > 0:
        # preserved fat plane between node and muscle/gland (a sign *against* ENE)
        halo = (sd_c > 0) & (sd_c < fat_plane) & _SOFT[lab]
        hu[halo] = fat_hu
        lab[halo] = T.FAT

    # ---- composite ----
    hu[:] = hu * (1 - occ_hu) + node_hu * occ_hu
    new_lab = np.where(necrosis > 0.5, T.NECROSIS, np.where(hilum > 0.5, T.HILUM, T.NODE)).astype(
        np.uint8
    )
    lab[mask] = new_lab[mask]
    lab[(~mask) & bg_fat & (strand_full > 10)] = T.STRANDING
    node_map[box.index][mask] = node.label
    node.voxels = int(mask.sum())
    node.signs["margin_blur_mm"] = round(float(blur), 2)
    if cls == "ene":
        node.signs["grade_description"] = ENE_GRADES[grade].description


def _fat_hu(anatomy: Anatomy) -> float:
    """The patient's fat HU (used for hilum fat and preserved fat planes)."""
    return float(anatomy.landmarks["fat_hu"][0])
