"""Thresholds without labels (quantile, POT, SPOT) and anomaly events of a series.

Reference values come from the SPOT authors' code (github.com/Amossys-team/SPOT, spot.py,
commit a7a499c), run outside this repository on the same deterministic inputs, and from
scipy.stats.genpareto.fit (an independent maximum-likelihood optimizer).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from scipy.stats import genpareto, norm

from aekit.errors import AekitError
from aekit.tasks.anomaly import threshold as anomaly_threshold
from aekit.tasks.thresholds import (
    Event,
    events,
    events_table,
    fit_gpd,
    pot_threshold,
    quantile_threshold,
    spot,
)


def grid_sample(n: int, mult: int, kind: str) -> np.ndarray:
    """Exact quantiles at (i + ½)/n of a distribution, in a fixed order (i·mult mod n): the
    same numbers on every machine, which a seeded generator does not promise."""
    u = (np.arange(n) + 0.5) / n
    q = {"gpd": ((1 - u) ** -0.2 - 1) / 0.2,  # GPD(γ = 0.2, σ = 1)
         "bounded": 3 * (1 - (1 - u) ** 0.25)}[kind]  # a finite right end: GPD(γ = −0.25) beyond any t
    return q[(np.arange(n) * mult) % n]


# -- the GPD fit -----------------------------------------------------------------------------
@pytest.mark.parametrize("gamma, sigma", [(0.2, 1.0), (-0.25, 2.0)])
def test_gpd_fit_recovers_the_parameters_of_gpd_excesses(gamma, sigma):
    u = np.random.default_rng(0).random(20_000)
    y = sigma * ((1 - u) ** -gamma - 1) / gamma  # inverse CDF of GPD(γ, σ)
    fit = fit_gpd(y)
    # standard errors at n = 20,000: γ ≈ (1 + γ)/√n ≤ 0.0085, σ ≈ σ√(2(1 + γ)/n) ≤ 0.011 σ
    assert fit.gamma == pytest.approx(gamma, abs=0.03)
    assert fit.sigma == pytest.approx(sigma, rel=0.04)
    c, _, s = genpareto.fit(y, floc=0)  # the same maximum, found by another optimizer
    assert fit.gamma == pytest.approx(c, abs=1e-3) and fit.sigma == pytest.approx(s, rel=1e-3)
    assert fit.loglik >= genpareto.logpdf(y, c, 0, s).sum() - 1e-6


def test_pot_agrees_with_the_spot_reference_code_on_a_bounded_tail():
    # spot.SPOT(q=1e-4).fit(x, ...).initialize(level=0.98) on grid_sample(5000, 1931, "bounded"):
    # init_threshold 1.8732319501468235, Nt 99, _grimshaw() γ = −0.2780269696669069,
    # σ = 0.2898845799193703, extreme_quantile 2.6762167991843455
    x = grid_sample(5000, 1931, "bounded")
    t = np.sort(x)[int(0.98 * len(x))]
    assert t == pytest.approx(1.8732319501468235, rel=1e-12)
    fit = fit_gpd(x[x > t] - t)
    assert (x > t).sum() == 99
    assert fit.gamma == pytest.approx(-0.2780269696669069, rel=1e-4)
    assert fit.sigma == pytest.approx(0.2898845799193703, rel=1e-4)
    assert pot_threshold(x, risk=1e-4, level=0.98) == pytest.approx(2.6762167991843455, rel=1e-5)


def test_pot_finds_the_maximum_the_spot_reference_code_misses_on_a_heavy_tail():
    # On grid_sample(5000, 1931, "gpd") the reference returns γ = 0, σ = 2.719672219563669,
    # z = 20.326940214801745: its γ = 0 log-likelihood has the wrong sign (n(1 + ln Ȳ), not
    # −n(1 + ln Ȳ)), and its search for positive roots starts at 2(Ȳ − Ym)/(Ȳ Ym) = 89.6, above
    # the root θ = γ/σ = 0.0787. The maximum likelihood (scipy agrees) is γ ≈ 0.1766.
    x = grid_sample(5000, 1931, "gpd")
    t = np.sort(x)[int(0.98 * len(x))]
    y = x[x > t] - t
    fit = fit_gpd(y)
    c, _, s = genpareto.fit(y, floc=0)
    assert fit.gamma == pytest.approx(c, abs=1e-3) and fit.sigma == pytest.approx(s, rel=1e-3)
    assert fit.gamma == pytest.approx(0.17656, abs=1e-4)
    exponential = -len(y) * (1 + np.log(y.mean()))  # the reference's candidate, sign corrected
    assert fit.loglik > exponential + 1.0  # −196.52 vs −198.05
    assert pot_threshold(x, risk=1e-4) == pytest.approx(25.5717, rel=1e-4)


# -- POT: exceedance rates ---------------------------------------------------------------------
@pytest.mark.parametrize("dist", ["exponential", "gaussian"])
def test_pot_threshold_is_exceeded_at_about_the_risk(dist):
    rng = np.random.default_rng(0)
    draw, tail = {"exponential": (rng.standard_exponential, lambda z: np.exp(-z)),
                  "gaussian": (rng.standard_normal, norm.sf)}[dist]
    train, fresh = draw(200_000), draw(1_000_000)
    z3 = pot_threshold(train, risk=1e-3, level=0.98)
    # 1,000 expected exceedances of 10⁶ (sd 32), plus the fit's own error (about 5%)
    assert np.mean(fresh > z3) == pytest.approx(1e-3, rel=0.15)
    assert tail(z3) == pytest.approx(1e-3, rel=0.15)
    # 50 times further into the tail than the peaks reach: the exact tail within 30%
    z4 = pot_threshold(train, risk=1e-4, level=0.98)
    assert tail(z4) == pytest.approx(1e-4, rel=0.3)
    assert z4 > z3


def test_quantile_threshold_is_the_training_quantile():
    x = np.arange(1001, dtype=float)  # 0 … 1000
    assert quantile_threshold(x, 0.01) == pytest.approx(990.0)
    assert quantile_threshold(x, 0.5) == pytest.approx(500.0)
    rng = np.random.default_rng(1).standard_normal(5000)
    assert quantile_threshold(rng, 0.05) == anomaly_threshold(rng, 0.05)  # the tables' rule
    assert np.mean(rng > quantile_threshold(rng, 0.05)) == pytest.approx(0.05, abs=1 / 5000)


# -- SPOT ----------------------------------------------------------------------------------------
def test_spot_agrees_with_the_reference_code_on_a_stream():
    # spot.SPOT(q=1e-3).fit(cal, stream).initialize(level=0.98).run() (with_alarm=True) gives
    # alarms [34, 500, 1500, 1517, 1551, 2500] and thresholds (recorded after point i, so ours
    # at i + 1) 2.46128018346201, 2.456109835481742, 2.45675267377729 at i = 0, 999, 1999
    cal = grid_sample(5000, 1931, "bounded")
    stream = grid_sample(3000, 1147, "bounded")
    stream[[500, 1500, 2500]] = [5.0, 6.0, 4.0]
    z = spot(cal, stream, risk=1e-3, level=0.98)
    assert z.shape == stream.shape
    assert np.flatnonzero(stream > z).tolist() == [34, 500, 1500, 1517, 1551, 2500]
    assert z[[1, 1000, 2000]] == pytest.approx([2.46128018346201, 2.456109835481742, 2.45675267377729], rel=1e-5)
    assert z[0] == pytest.approx(pot_threshold(cal, risk=1e-3, level=0.98))
    # an anomaly is not a peak: the threshold after it is the threshold before it
    for i in (500, 1500, 2500):
        assert z[i + 1] == z[i]
    # a new peak (between t and z) moves it
    t = np.sort(cal)[int(0.98 * len(cal))]
    i = int(np.flatnonzero((stream > t) & (stream <= z))[0])
    assert z[i + 1] != z[i]


# -- events ------------------------------------------------------------------------------------
def test_events_merge_runs_across_small_gaps_and_drop_short_ones():
    flags = np.zeros(30, bool)
    flags[[2, 3, 4, 6, 7, 15, 25, 26, 27, 28]] = True
    scores = np.arange(30.0)
    scores[3] = 100.0
    assert [(e.start, e.end) for e in events(flags, scores)] == [(2, 4), (6, 7), (15, 15), (25, 28)]
    merged = events(flags, scores, min_gap=1)
    assert [(e.start, e.end, e.peak) for e in merged] == [(2, 7, 3), (15, 15, 15), (25, 28, 28)]
    assert merged[0].peak_score == 100.0 and merged[0].length == 6
    assert [(e.start, e.end) for e in events(flags, scores, min_gap=1, min_length=2)] == [(2, 7), (25, 28)]
    assert [(e.start, e.end) for e in events(flags, scores, min_gap=8)] == [(2, 15), (25, 28)]
    assert events(np.zeros(5, bool), np.zeros(5)) == [] and events([], []) == []
    edge = events(np.ones(4, bool), np.array([1.0, 3.0, 3.0, 2.0]))
    assert edge == [Event(0, 3, 1, 3.0)]  # the first of equal peaks


def test_events_carry_time_stamps_and_make_a_csv_table():
    time = np.arange("2024-01-01T00:00", "2024-01-01T00:10", dtype="datetime64[m]").astype("datetime64[ns]")
    flags = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0], bool)
    found = events(flags, np.linspace(0, 1, 10), time=time)
    assert found[0].start_time == "2024-01-01T00:01:00.000000000" and found[0].end_time == "2024-01-01T00:02:00.000000000"
    rows = events_table(found)
    assert list(rows[0]) == ["start", "end", "length", "peak", "peak_score", "start_time", "end_time"]
    assert rows[1] == {"start": 6, "end": 6, "length": 1, "peak": 6, "peak_score": pytest.approx(6 / 9),
                       "start_time": "2024-01-01T00:06:00.000000000", "end_time": "2024-01-01T00:06:00.000000000"}
    assert all(type(v) in (int, float, str) for r in rows for v in r.values())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    assert buf.getvalue().splitlines()[1].startswith("1,2,2,2,")
    numeric = events(flags, np.zeros(10), time=np.arange(10) * 0.5)
    assert (numeric[1].start_time, type(numeric[1].start_time)) == (3.0, float)


# -- the error catalogue -------------------------------------------------------------------------
@pytest.mark.parametrize("call, words", [
    (lambda: quantile_threshold([]), "train_scores: no scores"),
    (lambda: quantile_threshold([1.0, np.nan]), "NaN or infinite scores (first at index 1)"),
    (lambda: quantile_threshold(np.ones(10), 0.7), "contamination: must be in (0, 0.5]"),
    (lambda: quantile_threshold(np.ones((3, 3))), "1-D"),
    (lambda: pot_threshold(np.arange(100.0), risk=0.0), "risk: must be in (0, 1 − level)"),
    (lambda: pot_threshold(np.arange(100.0), risk=0.05, level=0.98), "use a smaller risk or a lower level"),
    (lambda: pot_threshold(np.arange(100.0), level=1.0), "level: the initial threshold's quantile must be in (0, 1)"),
    (lambda: pot_threshold(np.arange(400.0)), "7 scores above the initial threshold (level 0.98), a GPD fit needs "
                                              "at least 10; use a lower level or more calibration data (about 500"),
    (lambda: pot_threshold(np.ones(10_000)), "0 scores above the initial threshold"),
    (lambda: pot_threshold(np.r_[np.zeros(990), np.arange(1, 11.0)], risk=0.015), "risk: 0.015 is not below the "
                                                                              "fraction of scores above the initial threshold (10/1000)"),
    (lambda: spot(np.arange(1000.0), [1.0, np.inf]), "test_scores: 1 NaN or infinite"),
    (lambda: fit_gpd([1.0, 0.0, 2.0]), "excesses: GPD excesses must be positive"),
    (lambda: events([1, 0], [1.0]), "scores: 1 scores for 2 flags"),
    (lambda: events([1, 0], [1.0, np.nan]), "scores: 1 NaN scores (first at step 1)"),
    (lambda: events([1, 0], [1.0, 2.0], time=[0]), "time: 1 time stamps for 2 steps"),
    (lambda: events([2, 0], [1.0, 2.0]), "flags: must be booleans or 0/1"),
    (lambda: events([1, 0], [1.0, 2.0], min_gap=-1), "min_gap"),
    (lambda: events([1, 0], [1.0, 2.0], min_length=0), "min_length"),
])
def test_bad_input_gets_a_one_line_error(call, words):
    with pytest.raises(AekitError) as err:
        call()
    assert words in str(err.value) and "\n" not in str(err.value)
