"""Representation learning: codes as features, judged the usual two ways.

- linear probe: multinomial logistic regression fitted on the (standardized) training codes,
  accuracy on the test codes; a linear classifier can use only what the code makes explicit.
  Its L2 strength is chosen among ``PROBE_CS`` on held-out training codes;
- clustering accuracy: k-means with k = number of classes on the codes, clusters matched to
  labels one-to-one by the Hungarian algorithm (Kuhn 1955):

      ACC = max_{m ∈ bijections} (1/N) Σ_i 1[y_i = m(c_i)]

  computed with ``scipy.optimize.linear_sum_assignment`` on the contingency table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Data
from ..errors import AekitError
from .common import codes

PROBE_CS = (0.01, 0.1, 1.0)  # inverse L2 strengths a linear probe chooses from


def _probe(C: float, max_iter: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=C))


def choose_probe_c(z_train, y_train, Cs=PROBE_CS, max_iter: int = 1000, seed: int = 0) -> float:
    """The C (inverse regularization) among ``Cs`` whose probe is most accurate on a
    stratified 20% of the training codes held out from its fit; the test codes are not
    looked at. With too few samples per class to hold any out, the largest C."""
    from sklearn.model_selection import train_test_split

    z_train = np.asarray(z_train).reshape(len(z_train), -1)
    y_train = np.asarray(y_train)
    _, counts = np.unique(y_train, return_counts=True)
    if len(Cs) == 1 or counts.min() < 5:
        return float(max(Cs))
    z_fit, z_val, y_fit, y_val = train_test_split(z_train, y_train, test_size=0.2, random_state=seed, stratify=y_train)
    scores = [(_probe(C, max_iter).fit(z_fit, y_fit).score(z_val, y_val), C) for C in Cs]
    return float(max(scores, key=lambda t: (t[0], t[1]))[1])  # ties: the weaker regularization


def linear_probe(z_train, y_train, z_test, y_test, max_iter: int = 1000, C: float | None = None) -> float:
    """Test accuracy of logistic regression trained on the (standardized) train codes. ``C``:
    the inverse L2 strength; by default chosen on held-out training codes (:func:`choose_probe_c`),
    since the best one differs between representations by up to a point of accuracy."""
    z_train, z_test = np.asarray(z_train).reshape(len(z_train), -1), np.asarray(z_test).reshape(len(z_test), -1)
    if len(np.unique(y_train)) < 2:
        raise AekitError("labels: a linear probe needs at least two classes in the training labels")
    if C is None:
        C = choose_probe_c(z_train, y_train, max_iter=max_iter)
    clf = _probe(C, max_iter).fit(z_train, y_train)
    return float((clf.predict(z_test) == np.asarray(y_test)).mean())


def cluster_accuracy(y_true, y_pred) -> float:
    """Accuracy under the best one-to-one matching of cluster ids to labels (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    labels, yt = np.unique(y_true, return_inverse=True)
    clusters, yp = np.unique(y_pred, return_inverse=True)
    table = np.zeros((len(clusters), len(labels)), dtype=np.int64)
    np.add.at(table, (yp, yt), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(y_true))


def kmeans_accuracy(z, y, n_clusters: int | None = None, seed: int = 0) -> float:
    """k-means (k = number of classes) on codes, Hungarian-matched accuracy."""
    from sklearn.cluster import KMeans

    z = np.asarray(z).reshape(len(z), -1)
    k = n_clusters or len(np.unique(y))
    pred = KMeans(k, n_init=4, random_state=seed).fit_predict(z)
    return cluster_accuracy(y, pred)


def representation_metrics(model, data, max_train: int = 20000, seed: int = 0) -> dict[str, float]:
    """Linear-probe and k-means accuracy of a model's codes on a labelled :class:`~aekit.Data`.

    At most ``max_train`` training samples (a seeded random subset) train the probe, to keep
    ``aekit evaluate`` quick; the benchmark uses all of them.
    """
    if data.y_train is None or data.y_test is None or data.x_test is None:
        raise AekitError(f"data {data.name!r}: representation metrics need labels and a test split")
    x_tr, y_tr = data.train(), np.asarray(data.y_train)
    if len(x_tr) > max_train:
        idx = np.random.default_rng(seed).choice(len(x_tr), max_train, replace=False)
        x_tr, y_tr = x_tr[idx], y_tr[idx]
    z_tr = codes(model, x_tr).numpy()
    z_te = codes(model, data.test()).numpy()
    return {
        "linear_probe_acc": linear_probe(z_tr, y_tr, z_te, data.y_test),
        "kmeans_acc": kmeans_accuracy(z_te, data.y_test, seed=seed),
    }


def embed_path(run_dir, data: str | None, out, split: str = "test", root: str | None = None) -> tuple[int, int]:
    """Write the codes of ``data`` (a data file of any format ``aekit train`` reads: every row;
    or a named data set or image folder, default the run's own data: ``split`` = train, test or
    all) to ``out`` (.npy). Returns the shape."""
    from .. import io
    from ..data.runs import run_columns, run_data, run_preprocessor
    from ..data.stream import rows
    from ..models import load
    from .common import read_table

    run_dir, out = Path(run_dir), Path(out)
    model = load(run_dir)
    if data is not None and Path(data).is_file():
        # a .npy is read a chunk at a time; a table's columns are matched to the run's by name
        pre = run_preprocessor(run_dir)  # a run trained with --impute mean fills NaN/inf as in training
        x = rows(read_table(data, mmap=True, columns=run_columns(run_dir), finite=pre.fill is None)[0], pre)
    else:
        if split not in ("train", "test", "all"):
            raise AekitError(f"--split: choose train, test or all, got {split!r}")
        d = run_data(run_dir, data=data, root=root)
        parts = ([d.train()] if split in ("train", "all") else []) + ([d.test()] if split in ("test", "all") else [])
        x = np.concatenate(parts)
    if out.suffix != ".npy":
        raise AekitError(f"--out: {out} must end in .npy")
    z = codes(model, x).numpy()
    with io.atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.save(f, z)
    return tuple(z.shape)


def run_representation_metrics(model, d: Data) -> dict:
    """Linear-probe and k-means accuracy for ``aekit evaluate`` on the run's data ``d`` when it
    has labels (empty when it has none)."""
    if d.y_train is None or d.y_test is None or d.x_test is None:
        return {}
    y = np.asarray(d.y_train)
    if not np.issubdtype(y.dtype, np.integer) or len(np.unique(y)) < 2 or len(np.unique(y)) > 100:
        return {}
    return representation_metrics(model, d)
