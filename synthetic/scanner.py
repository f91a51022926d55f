"""Image formation: system blur, correlated CT noise and quantisation.

* Blur: a Gaussian point-spread function in the axial plane (``psf_sigma_mm``),
  i.e. the partial-volume smoothing of the detector and reconstruction kernel.
* Noise: filtered back projection turns white detector noise into noise with a
  "ramp" noise power spectrum, NPS(f) ~ |f| W(f)^2, where W is the kernel's
  apodisation window; the noise is therefore spatially correlated (grainy,
  with no power at zero frequency), unlike white noise.  We synthesise it by
  filtering white Gaussian noise with sqrt(NPS) in the 2-D Fourier domain of
  each slice, scaled to the profile's noise SD.  A sharper kernel (external
  profile) moves the NPS peak to higher frequency and raises the SD.
* The noise SD grows with the patient's attenuating width (larger patients
  and the shoulders at the thoracic inlet are noisier): SD ~ (width / 114
  mm)^0.8, a mild version of the exponential attenuation law that
  tube-current modulation only partly compensates.
* Quantisation: integer HU, clipped to the 12-bit (or 16-bit signed) range.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from .anatomy import Geometry
from .profiles import Profile

__all__ = ["apply_scanner", "noise_filter", "to_stored_values"]


def _freqs(geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
    fy = fft.fftfreq(geom.rows, d=geom.pixel_spacing)[:, None]
    fx = fft.rfftfreq(geom.cols, d=geom.pixel_spacing)[None, :]
    return fx, fy


def noise_filter(geom: Geometry, profile: Profile) -> np.ndarray:
    """Amplitude filter sqrt(NPS) (rfft2 layout) normalised to unit output variance."""
    fx, fy = _freqs(geom)
    f = np.sqrt(fx * fx + fy * fy)
    nyq = 0.5 / geom.pixel_spacing
    fc = profile.nps_cutoff * nyq
    nps = f * np.exp(-((f / fc) ** 2))
    amp = np.sqrt(nps)
    # unit variance: sum over the full (two-sided) spectrum of |H|^2 / N = 1
    w = np.full(amp.shape, 2.0)
    w[:, 0] = 1.0
    if geom.cols % 2 == 0:
        w[:, -1] = 1.0
    power = float((w * amp * amp).sum()) / (geom.rows * geom.cols)
    return (amp / np.sqrt(power)).astype(np.float32)


def apply_scanner(
    hu: np.ndarray,
    geom: Geometry,
    profile: Profile,
    rng: np.random.Generator,
    noise_sd: np.ndarray,
) -> np.ndarray:
    """Blur ``hu`` with the PSF and add correlated noise (``noise_sd`` per slice)."""
    fx, fy = _freqs(geom)
    sig = profile.psf_sigma_mm
    mtf = np.exp(-2 * np.pi**2 * sig**2 * (fx * fx + fy * fy)).astype(np.float32)
    white = rng.standard_normal(hu.shape, dtype=np.float32)
    spec = fft.rfft2(hu, axes=(1, 2), workers=1)
    spec *= mtf[None]
    nspec = fft.rfft2(white, axes=(1, 2), workers=1)
    nspec *= noise_filter(geom, profile)[None]
    nspec *= noise_sd.astype(np.float32)[:, None, None]
    spec += nspec
    return fft.irfft2(spec, s=hu.shape[1:], axes=(1, 2), workers=1).astype(np.float32)


def noise_per_slice(
    profile: Profile, body_width_mm: np.ndarray, patient_factor: float
) -> np.ndarray:
    """Noise SD per slice from the body width (wider = more attenuation = noisier)."""
    return (profile.noise_sd_hu * patient_factor * (body_width_mm / 114.0) ** 0.8).astype(
        np.float32
    )


def to_stored_values(hu: np.ndarray, profile: Profile) -> tuple[np.ndarray, float]:
    """Round to integer HU and convert to stored pixel values; returns (pixels, intercept)."""
    intercept = -1024.0
    stored = np.rint(hu) - intercept
    if profile.pixel_representation == 0:
        hi = 2**profile.bits_stored - 1
        return np.clip(stored, 0, hi).astype(np.uint16), intercept
    return np.clip(stored, -1024, 32767).astype(np.int16), intercept
