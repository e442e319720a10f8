"""Series anomaly-detection metrics (aekit.metrics.series): equal to TSB-AD on fixed inputs, and
the properties a wrong implementation would break.

Golden values come from TSB-AD 1.5 (``pip install --no-deps TSB-AD==1.5`` in a throwaway venv with
numpy 1.26.4 and scikit-learn 1.9.1, Python 3.11; TSB_AD/evaluation is identical at GitHub
TheDatumOrg/TSB-AD 8763009, 2025-10-26), run on the inputs ``_cases()`` builds here:

    from TSB_AD.evaluation.metrics import get_metrics
    from TSB_AD.evaluation.basic_metrics import basic_metricor
    from TSB_AD.evaluation.affiliation.generics import convert_vector_to_events
    from TSB_AD.evaluation.affiliation.metrics import pr_from_events
    m = get_metrics(scores, labels, slidingWindow=window, pred=predictions.astype(int))
    # auc_roc, auc_pr, vus_roc, vus_pr, event_f1, affiliation_f1, point_adjusted_f1 =
    # m["AUC-ROC"], m["AUC-PR"], m["VUS-ROC"], m["VUS-PR"], m["Event-based-F1"], m["Affiliation-F"], m["PA-F1"]
    tpr, fpr, prec = basic_metricor().RangeAUC_volume_opt(labels_original=labels, score=scores,
                                                          windowSize=window, thre=250)[:3]
    range_auc_roc = np.sum(np.diff(fpr[window]) * (tpr[window][1:] + tpr[window][:-1]) / 2)
    range_auc_pr = np.sum((tpr[window][1:-1] - tpr[window][:-2]) * prec[window][1:])
    a = pr_from_events(convert_vector_to_events(predictions.astype(int)), convert_vector_to_events(labels),
                       (0, len(labels)))  # affiliation_precision/recall = a["Affiliation_Precision"/"_Recall"]

R-AUC is read off the VUS surface at buffer ``window`` (the same integration as TSB-AD's VUS)
because TSB-AD 1.5's own ``RangeAUC(labels, score, window)`` raises ZeroDivisionError for window >= 2.
A randomized comparison (300 series, 30-1500 steps, ties, events at both ends, windows 0-59) agreed
to 4e-14 relative except in the two reference off-by-ones tested at the end of this file.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from aekit import metrics
from aekit.errors import AekitError
from aekit.metrics import (
    affiliation_f1,
    auc_pr,
    auc_roc,
    event_f1,
    point_adjusted_f1,
    range_auc_pr,
    range_auc_roc,
    series_metrics,
    ucr_accuracy,
    vus_pr,
    vus_roc,
)
from conftest import SHARED, need

MITDB = SHARED / "timeseries" / "tsb-uad" / "mitdb.csv"


def _synthetic(T=3000, seed=15):
    y = np.zeros(T, dtype=np.int64)
    for a, b in [(400, 460), (1200, 1205), (2000, 2001), (2200, 2230), (2240, 2250)]:
        y[a:b] = 1  # a long event, a short one, a one-step one, two whose buffers merge
    return y, np.random.default_rng(seed).normal(size=T) + 1.5 * y


def _cases(name):
    if name == "mitdb":
        d = np.loadtxt(need(MITDB), delimiter=",", skiprows=1)
        x, y = d[:, 0], d[:, 1].astype(np.int64)
        # absolute deviation from the centred moving median of 101 steps (edges padded)
        s = np.abs(x - np.median(sliding_window_view(np.pad(x, 50, mode="edge"), 101), axis=1))
        return y, s, 100, s > s.mean() + 3 * s.std()
    if name == "tiny":  # 80 steps: fewer steps than the 250 thresholds; ties
        y = np.zeros(80, dtype=np.int64)
        y[10:14] = y[50:52] = 1
        s = np.round(np.random.default_rng(3).random(80) + 0.4 * y, 1)
        return y, s, 6, s >= 1.0
    y, s = _synthetic()
    if name == "synthetic_ties":
        s = np.round(s, 1)
        return y, s, 40, s >= 2.0
    return y, s, 40, s > np.quantile(s, 0.97)


GOLDEN = {
    "synthetic": dict(auc_roc=0.8683157084925219, auc_pr=0.32650384250232756, range_auc_roc=0.924840955205035,
                      range_auc_pr=0.32818666913225225, vus_roc=0.906550150621945, vus_pr=0.31351404286303275,
                      event_f1=0.5132075471698109, affiliation_precision=0.635713739983708,
                      affiliation_recall=0.9755311307783459, affiliation_f1=0.7697880748868763,
                      point_adjusted_f1=0.7865168539325843),
    "synthetic_ties": dict(auc_roc=0.867991354917787, auc_pr=0.3170247508138191, range_auc_roc=0.9245651749828626,
                           range_auc_pr=0.3219375028997473, vus_roc=0.9060665013097735, vus_pr=0.30739873772306414,
                           event_f1=0.4925124792013307, affiliation_precision=0.6235349985332929,
                           affiliation_recall=0.976342898294507, affiliation_f1=0.7610380377941822,
                           point_adjusted_f1=0.7553956834532374),
    "tiny": dict(auc_roc=0.7995495495495496, auc_pr=0.19226190476190477, range_auc_roc=0.8898722767166083,
                 range_auc_pr=0.31904179377243175, vus_roc=0.8374042135811944, vus_pr=0.23701621908474754,
                 event_f1=0.28571428571428537, affiliation_precision=0.4765625, affiliation_recall=0.6106770833333334,
                 affiliation_f1=0.535348053892215, point_adjusted_f1=0.5714285714285714),
    "mitdb": dict(auc_roc=0.4573740429617948, auc_pr=0.044339544967637055, range_auc_roc=0.5004406031646118,
                  range_auc_pr=0.04982307142501004, vus_roc=0.47661993188290386, vus_pr=0.0465949038043705,
                  event_f1=0.07368421052631571, affiliation_precision=0.5093908925318762,
                  affiliation_recall=0.9790162878787878, affiliation_f1=0.6701149890290418, point_adjusted_f1=0.8),
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_equals_tsb_ad(name):
    y, s, window, pred = _cases(name)
    got = series_metrics(y, s, window=window, predictions=pred)
    for key, want in GOLDEN[name].items():
        assert got[key] == pytest.approx(want, rel=1e-9, abs=1e-12), key
    # the single-metric functions give what series_metrics gives
    assert vus_pr(y, s, window) == got["vus_pr"] and range_auc_roc(y, s, window) == got["range_auc_roc"]
    assert affiliation_f1(y, pred) == pytest.approx(got["affiliation_f1"], rel=1e-12)
    assert metrics.series_metrics is metrics.series.series_metrics


def test_perfect_reversed_and_constant_scores():
    y, _ = _synthetic()
    perfect = series_metrics(y, y.astype(float), window=40, predictions=y)
    assert all(v == pytest.approx(1.0) for v in perfect.values()), perfect
    reversed_ = series_metrics(y, -y.astype(float), window=40)
    assert reversed_["auc_roc"] == 0.0 and reversed_["vus_roc"] < 0.3 and reversed_["vus_pr"] < 0.05
    assert auc_roc(y, np.zeros(len(y))) == 0.5  # one threshold: the chance diagonal
    assert auc_pr(y, np.zeros(len(y))) == pytest.approx(y.mean())


def test_auc_counts_ties_one_half():
    y = np.array([0, 1, 0, 1])
    assert auc_roc(y, [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.875)  # pairs: 1, 1, 0.5, 1
    assert auc_pr(y, [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.5 * 1 + 0.5 * (2 / 3))


def test_random_scores_reach_the_chance_level():
    y, _ = _synthetic()
    rng = np.random.default_rng(0)
    draws = np.array([[vus_pr(y, s, 0), vus_pr(y, s, 40)] for s in rng.random((100, len(y)))])
    # no buffer: chance is the anomaly rate (0.0353); mean of 100 draws within 4 standard errors
    assert abs(draws[:, 0].mean() - y.mean()) < 4 * draws[:, 0].std() / 10 + 1e-3
    # buffers count as weighted positives, so chance rises with the window (measured 0.062)
    assert 1.4 * y.mean() < draws[:, 1].mean() < 2.2 * y.mean()


def test_buffer_credits_an_early_alarm():
    y = np.zeros(1000, dtype=np.int64)
    y[500:520] = 1
    early = np.roll(y, -5).astype(float)  # fires 5 steps before the event, then stops 5 steps early
    assert range_auc_roc(y, early, 20) > range_auc_roc(y, early, 0) + 0.05
    assert range_auc_pr(y, early, 0) == range_auc_pr(y, early, 1)  # a buffer of window // 2 = 0 steps
    # VUS is the mean of R-AUC over the buffer lengths 0..window
    y2, s = _synthetic()
    assert vus_roc(y2, s, 10) == pytest.approx(np.mean([range_auc_roc(y2, s, w) for w in range(11)]), rel=1e-12)
    assert vus_pr(y2, s, 10) == pytest.approx(np.mean([range_auc_pr(y2, s, w) for w in range(11)]), rel=1e-12)


def test_point_adjustment_rewards_random_predictions():
    y = np.zeros(5000, dtype=np.int64)
    y[1000:1500] = y[3000:3500] = 1  # two long events
    preds = np.random.default_rng(1).random((20, 5000)) < 0.01  # 1% of steps flagged at random
    # one lucky step per event counts as the whole event: why point adjustment is legacy
    assert np.mean([point_adjusted_f1(y, p) for p in preds]) > 0.9
    assert max(2 * (y & p).sum() / (y.sum() + p.sum()) for p in preds) < 0.05  # point-wise F1


def test_affiliation_by_hand():
    y = np.zeros(20, dtype=np.int64)
    y[8:10] = 1  # event [8, 10), zone [0, 20), m = 8
    pred = np.zeros(20, dtype=np.int64)
    pred[11] = 1  # [11, 12): distances 1..2 from the event
    # precision: mean over x in [11, 12) of 1 - (2 + 2d)/20 with d = x - 10, mean d = 1.5
    # recall: over t in [8, 10) with d = 11 - t (mean 2), 1 - 2d/20
    p, r = 1 - (2 + 3) / 20, 1 - 4 / 20
    assert affiliation_f1(y, pred) == pytest.approx(2 * p * r / (p + r), rel=1e-12)
    assert series_metrics(y, pred, window=0, predictions=pred)["affiliation_recall"] == pytest.approx(r)
    assert affiliation_f1(y, np.zeros(20)) == 0.0  # no prediction: 0 (TSB-AD 1.5: NaN)


def test_ucr_accuracy_margin():
    y = np.zeros(1000, dtype=np.int64)
    y[400:412] = 1
    for peak, margin, want in [(300, 100, 1.0), (299, 100, 0.0), (511, 100, 1.0), (512, 100, 0.0),
                               (405, 0, 1.0), (413, 0, 0.0), (450, 50, 1.0)]:
        s = np.zeros(1000)
        s[peak] = 1.0
        assert ucr_accuracy(y, s, margin) == want, (peak, margin)
    s = np.zeros(1000)
    s[[50, 405]] = 1.0  # tied maxima: the first counts
    assert ucr_accuracy(y, s) == 0.0


@pytest.mark.parametrize("call, match", [
    (lambda: auc_roc([0, 1, 1], [0.1, 0.2]), "scores must be 1-D with one value per label"),
    (lambda: auc_roc([0, 1, 2], [0.1, 0.2, 0.3]), "labels must hold only 0 and 1"),
    (lambda: auc_roc([0, 0, 0], [0.1, 0.2, 0.3]), "labels must hold at least one anomalous"),
    (lambda: auc_pr([1, 1], [0.1, 0.2]), "labels must hold at least one anomalous"),
    (lambda: auc_roc([0, 1], [0.1, np.nan]), "scores hold NaN or inf"),
    (lambda: auc_roc(np.zeros((2, 2)), [0.1, 0.2]), "labels must be a non-empty 1-D array"),
    (lambda: vus_pr([0, 1], [0.1, 0.2], -1), "window must be a non-negative integer"),
    (lambda: vus_pr([0, 1], [0.1, 0.2], 2.5), "window must be a non-negative integer"),
    (lambda: vus_roc([0, 1], [0.1, 0.2], 2, thresholds=0), "thresholds must be a positive integer"),
    (lambda: event_f1([0, 1], [0, 1, 1]), "predictions has 3 values but labels has 2"),
    (lambda: affiliation_f1([0, 1], [0.2, 0.7]), "predictions must hold only 0 and 1"),
    (lambda: ucr_accuracy([0, 1], [0.1, 0.2], margin=-5), "margin must be a non-negative integer"),
])
def test_bad_input_is_one_line_naming_the_argument(call, match):
    with pytest.raises(AekitError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_deliberate_differences_from_tsb_ad():
    # an event on the last step, predicted: detected here (TSB-AD 1.5 ends it a step early: 0.667)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1])
    assert event_f1(y, [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1]) == 1.0
    # point adjustment reaches step 0 (TSB-AD 1.5's backward fill stops at step 1: 0.8)
    assert point_adjusted_f1([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]) == 1.0
