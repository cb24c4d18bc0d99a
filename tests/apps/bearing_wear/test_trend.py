"""Defect-size trend: threshold crossing and days-to-threshold by linear and exponential fits."""

import numpy as np
import pytest

from edgeinv.apps.bearing_wear.trend import trend_forecast


def test_linear_growth_predicts_days_to_threshold():
    out = trend_forecast(days=np.array([0.0, 10.0, 20.0]), sizes_mm=np.array([0.5, 1.0, 1.5]),
                         threshold_mm=2.0, horizon_days=30.0)
    assert out["model"] == "linear" and out["status"] == "predicted"
    assert out["rate_mm_per_day"] == pytest.approx(0.05)
    assert out["days_to_threshold"] == pytest.approx(10.0)


def test_exponential_growth_is_recognised():
    t = np.array([0.0, 10.0, 20.0, 30.0])
    out = trend_forecast(days=t, sizes_mm=0.25 * 2 ** (t / 10), threshold_mm=4.0, horizon_days=5.0)
    assert out["model"] == "exponential"
    assert out["days_to_threshold"] == pytest.approx(10.0, rel=1e-6)  # 2 mm at t=30 -> 4 mm at t=40
    assert out["status"] == "stable"  # 10 days is beyond the 5-day horizon


def test_crossed_insufficient_and_flat():
    assert trend_forecast(days=[0, 1], sizes_mm=[1.0, 2.5], threshold_mm=2.0, horizon_days=30)["status"] == "crossed"
    assert trend_forecast(days=[0, 1], sizes_mm=[1.0, 1.2], threshold_mm=2.0, horizon_days=30)["status"] == "insufficient"
    # three results within one hour: no trend from such a short span
    assert trend_forecast(days=[0, 0.01, 0.02], sizes_mm=[0.1, 0.5, 1.0], threshold_mm=2.0, horizon_days=30)["status"] == "insufficient"
    flat = trend_forecast(days=[0, 5, 10, 15], sizes_mm=[1.0, 1.0, 1.0, 1.0], threshold_mm=2.0, horizon_days=30)
    assert flat["status"] == "stable" and flat["days_to_threshold"] is None
    # results without a size (NaN) are skipped
    assert trend_forecast(days=[0, 5, 10], sizes_mm=[np.nan, 1.0, np.nan], threshold_mm=2.0, horizon_days=30)["status"] == "insufficient"
