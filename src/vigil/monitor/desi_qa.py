"""Short descriptions of DESI Quick Look's QA keys, shown when a mapping gives none.

DESI's ``ql_mapping_*.json`` files name each QA (``status_key``, ``display_name``) but do
not say what it measures; an observer reading the drill-down needs that line. A mapping's
own ``description`` always wins.
"""

from __future__ import annotations

__all__ = ["DESI_QA_DESCRIPTIONS"]

DESI_QA_DESCRIPTIONS: dict[str, str] = {
    "BIAS_AMP": "Bias level of each amplifier, from its overscan region (ADU).",
    "LITFRAC_AMP": "Fraction of each amplifier's pixels above the detection threshold.",
    "NOISE_AMP": "Read noise of each amplifier, from its overscan region (electrons).",
    "XWSIGMA": (
        "Width (sigma) of the sky lines across the dispersion (X) and along it (W), pixels."
    ),
    "NGOODFIB": "Number of the camera's fibres that carry signal (of 500).",
    "GOOD_FIBERS": "Each fibre's state: 1 good, 0 bad (no signal).",
    "XYSHIFTS": "Shift of the spectral traces in X and Y against the reference (flexure), pixels.",
    "CHECKARC": "Check of the arc exposure: the wavelength and resolution fits of the arc lines.",
    "CHECKFLAT": "Check of the flat exposure: the fibre flat against its reference.",
    "DELTAMAG_TGT": "Measured minus expected magnitude of the targets, per target type.",
    "FIDSNR_TGT": "Signal-to-noise at the fiducial magnitude, per target type.",
    "PEAKCOUNT": "Counts in the sky-line peaks: the sky's brightness in the sky fibres.",
    "SKYCONT": "Sky continuum level in the sky fibres.",
    "SKYRBAND": "Sky brightness in the r band, from the sky fibres.",
}
