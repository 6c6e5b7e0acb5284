"""Leg length from stature and age."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motorflow.anthropometry import ADULT_LEG_FRACTION, leg_length_fraction, leg_length_m


def test_adult_and_unknown_age_give_winters_fraction():
    assert leg_length_fraction(None) == ADULT_LEG_FRACTION == 0.530
    assert leg_length_fraction(float("nan")) == ADULT_LEG_FRACTION
    assert leg_length_fraction(30 * 12) == pytest.approx(ADULT_LEG_FRACTION)


def test_a_childs_legs_are_relatively_shorter_and_grow_with_age():
    ages = np.arange(48, 200, 6)
    fractions = np.array([leg_length_fraction(a) for a in ages])
    assert np.all(np.diff(fractions) >= 0)
    assert leg_length_fraction(60) == pytest.approx(0.490, abs=1e-9)
    assert leg_length_fraction(48) == leg_length_fraction(60)  # flat below the curve
    assert leg_length_fraction(13 * 12) == pytest.approx(ADULT_LEG_FRACTION)


def test_leg_length_in_metres():
    assert leg_length_m(150.0) == pytest.approx(0.795)
    assert leg_length_m(110.0, 60.0) == pytest.approx(0.539)
    for bad in (None, 0.0, -3.0, math.nan):
        assert leg_length_m(bad, 60.0) is None
