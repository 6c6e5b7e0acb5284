"""Leg length from stature and age: children's legs are relatively shorter than adults'.

Metric gait features (step length in m, speed in m/s) scale the pose's leg lengths by the
subject's leg length, which a sheet rarely holds; it is estimated from stature.  Winter's
adult proportion (greater trochanter height = 0.530 × stature) overestimates a child's leg:
the sitting-height ratio (sitting height / stature) falls from about 0.56 at 5 years to the
adult 0.52 by about 13 (growth references, e.g. Fredriks et al. 2005, Eur J Pediatr
164:216), so at 5 years the leg is about 0.49 × stature, 8 % shorter than the adult fraction
gives.  The same curve shapes the synthetic walkers (``synth.gait_motion.Anthropometry``).
"""

from __future__ import annotations

import math

import numpy as np

ADULT_LEG_FRACTION = 0.530  # Winter (2009): greater trochanter height / stature
# Sitting-height ratio by age (years), rounded from growth references; flat outside.
_AGE_Y = (5.0, 7.0, 9.0, 11.0, 13.0)
_SITTING_RATIO = (0.560, 0.545, 0.532, 0.523, 0.520)
_ADULT_SITTING_RATIO = 0.520


def leg_length_fraction(age_months: float | None) -> float:
    """Hip height (greater trochanter to floor) per unit stature at ``age_months``.

    Unknown age (None or NaN) gives the adult fraction; ages below 5 years take the
    5-year value (the curve is not drawn for toddlers).
    """
    if age_months is None or not math.isfinite(float(age_months)):
        return ADULT_LEG_FRACTION
    ratio = float(np.interp(float(age_months) / 12.0, _AGE_Y, _SITTING_RATIO))
    return ADULT_LEG_FRACTION - (ratio - _ADULT_SITTING_RATIO)


def leg_length_m(height_cm: float | None, age_months: float | None = None) -> float | None:
    """Estimated leg length in metres, or None where the stature is missing or not > 0."""
    if height_cm is None or not math.isfinite(float(height_cm)) or height_cm <= 0:
        return None
    return leg_length_fraction(age_months) * float(height_cm) / 100.0
