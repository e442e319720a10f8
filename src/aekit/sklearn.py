"""scikit-learn estimators around any aekit family.

- :class:`AutoencoderTransformer`: ``fit`` / ``transform`` (codes; the posterior mean for
  variational families) / ``inverse_transform`` (decode back to data units) / ``score_samples``
  (minus the reconstruction error, so higher = more typical, as in ``PCA.score_samples``).
- :class:`AnomalyDetector`: an outlier detector with IsolationForest's conventions:
  ``score_samples`` higher = more normal, ``decision_function = score_samples − offset_``,
  ``predict`` +1 (inlier) / −1 (outlier), ``offset_`` the ``contamination`` quantile of the
  training scores. Scores are those of :mod:`aekit.tasks.anomaly` (negated).

Both follow the estimator contract (``__init__`` only stores; learned state ends in ``_``;
``random_state`` seeds the weights and the batch order) and pass ``check_estimator``. Images
are taken as ``(n, C, H, W)`` arrays or as flat rows with ``input_shape=(C, H, W)``.

Tabular data is standardized with statistics of the training data (``preprocess``); the
decoder is then linear. ``preprocess="none"`` keeps data in [0, 1] for a sigmoid decoder.
``preprocess="auto"`` (:class:`AnomalyDetector`'s default) chooses from the training data by
:func:`data_defaults`: images in [0, 1] (or 8-bit) are kept in [0, 1] for a sigmoid decoder,
anything else is standardized; the choice is the fitted ``preprocess_``.

The network is ``arch`` (any registered network, with ``model_options={"net_options": …}``
for its options) or the user's own ``encoder`` and ``decoder`` modules, copied at every
``fit``; ``latent_dim=None`` means 8 for aekit's networks and the encoder's output width for
the user's modules.

``batch_size="auto"`` (the default) is 128, or every sample when fewer are given; a number
you give is used as given, and one larger than the training samples is refused (as by
``aekit train --batch-size``). The batch size used is the fitted ``batch_size_``.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

TABLE_LATENT_DIM = 4  # AnomalyDetector's code width on tables when latent_dim=None (8 elsewhere)


def fit_batch_size(batch_size, n: int, default: int) -> int:
    """The batch size an estimator trains with on ``n`` samples: ``"auto"`` is ``default``
    shrunk to ``n``; a positive integer is kept as given (the trainer refuses one above
    ``n``, naming the fix)."""
    from .errors import AekitError

    if isinstance(batch_size, str) and batch_size == "auto":
        return int(min(default, n))
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise AekitError(f"batch_size: must be 'auto' or a positive integer, got {batch_size!r}")
    return int(batch_size)


def data_defaults(X: np.ndarray, input_shape=None) -> dict:
    """What ``"auto"`` options resolve to for the training data ``X`` (n, ...).

    Returns ``{"kind": "image" | "table", "preprocess": "none" | "scale" | "standardize"}``.
    A sample is an image when it is 2-D or 3-D (``X`` of shape (n, H, W) or (n, C, H, W), or
    ``input_shape=(C, H, W)``): flat rows are tables even when every column lies in [0, 1],
    since min–max-scaled tables are common and are not images (on the 12 ADBench tables that lie
    in [0, 1], the image treatment lowered the mean AUROC; RESULTS.md, section A)."""
    shape = tuple(input_shape) if input_shape is not None else tuple(X.shape[1:])
    if len(shape) not in (2, 3):
        return {"kind": "table", "preprocess": "standardize"}
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        pre = "none"
    elif lo >= 0.0 and hi <= 255.0 and bool(np.all(X == np.round(X))):
        pre = "scale"  # 8-bit pixels: x / 255
    else:
        pre = "standardize"
    return {"kind": "image", "preprocess": pre}


def build_family(model, shape, *, latent_dim=None, hidden=(64,), arch="mlp", encoder=None, decoder=None,
                 unbounded=True, model_options=None):
    """The family ``model`` for samples of ``shape``, as the estimators build it: the user's
    modules (copied, so every fit starts from the weights given) or the network ``arch``;
    ``latent_dim=None`` is 8 for aekit's networks and the encoder's width for the user's;
    ``unbounded`` (standardized data) gives a linear decoder and a Gaussian likelihood;
    ``model_options`` passes further config fields."""
    from .registry import get_model_class

    cls = get_model_class(model)
    fields = cls.config_class.field_names()
    own = encoder is not None or decoder is not None
    opts = {"input_shape": tuple(shape)}
    if latent_dim is not None or not own:
        opts["latent_dim"] = int(8 if latent_dim is None else latent_dim)
    if own:
        opts["encoder"], opts["decoder"] = copy.deepcopy(encoder), copy.deepcopy(decoder)
    else:
        opts["arch"] = arch
        if hidden is not None:  # a string ("512,256", from the command line) is parsed by the config
            opts["hidden"] = hidden if isinstance(hidden, str) else tuple(hidden)
    if unbounded:  # unbounded data: linear decoder, Gaussian likelihood
        if "output" in fields and not own:  # the user's decoder says itself (a final Sigmoid)
            opts["output"] = "linear"
        if "likelihood" in fields:
            opts["likelihood"] = "gaussian"
    opts.update(model_options or {})
    return cls(**opts)


class _AutoencoderEstimator(BaseEstimator):
    """Shared fitting: validate, preprocess, build the family, train with :class:`aekit.Trainer`."""

    def __init__(self, model="ae", *, latent_dim=None, hidden=(64,), arch="mlp", encoder=None, decoder=None,
                 input_shape=None, preprocess="standardize", epochs=50, batch_size="auto", lr=1e-3, weight_decay=0.0,
                 model_options=None, device="cpu", random_state=None, verbose=False):
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.arch = arch
        self.encoder = encoder
        self.decoder = decoder
        self.input_shape = input_shape
        self.preprocess = preprocess
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.model_options = model_options
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.device not in ("cpu",)
        return tags

    # -- data -----------------------------------------------------------------------------------
    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], allow_nd=True)
        if self.input_shape is not None:
            shape = tuple(int(s) for s in self.input_shape)
            if int(np.prod(X.shape[1:])) != int(np.prod(shape)):
                raise ValueError(f"X has {int(np.prod(X.shape[1:]))} features per sample, but "
                                 f"input_shape={shape} needs {int(np.prod(shape))}")
            X = X.reshape(len(X), *shape)
        return X

    def _prepared(self, X, reset: bool = False) -> np.ndarray:
        X = self._validate(X, reset)
        return self.preprocessor_.transform(X).astype(np.float32, copy=False)

    # -- fitting --------------------------------------------------------------------------------
    def _build_model(self, shape, latent_dim=None):
        latent_dim = self.latent_dim if latent_dim is None else latent_dim
        return build_family(self.model, shape, latent_dim=latent_dim, hidden=self.hidden, arch=self.arch,
                            encoder=self.encoder, decoder=self.decoder,
                            unbounded=self.preprocess_ == "standardize", model_options=self.model_options)

    def _fit_preprocessor(self, X):
        """``preprocess`` as given, or resolved from ``X`` for ``"auto"``: sets ``data_kind_``,
        ``preprocess_`` (the method used) and ``preprocessor_``."""
        from .data import Preprocessor

        auto = data_defaults(X, self.input_shape)
        self.data_kind_ = auto["kind"]
        self.preprocess_ = auto["preprocess"] if self.preprocess == "auto" else self.preprocess
        if self.preprocess == "auto" and self.preprocess_ == "scale":
            return Preprocessor("scale", factor=1.0 / 255.0)  # X is float here: fit would take factor 1
        return Preprocessor.fit(X, self.preprocess_)

    def _fit(self, X):
        import torch

        from .train import Trainer

        X = self._validate(X, reset=True)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.preprocessor_ = self._fit_preprocessor(X)
        Xp = self.preprocessor_.transform(X).astype(np.float32, copy=False)
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(seed)
            self.model_ = self._build_model(tuple(Xp.shape[1:]))
            self.batch_size_ = fit_batch_size(self.batch_size, len(Xp), 128)
            trainer = Trainer(epochs=int(self.epochs), batch_size=self.batch_size_,
                              lr=float(self.lr), weight_decay=float(self.weight_decay), val_split=0.0,
                              seed=seed, device=self.device, progress=bool(self.verbose))
            trainer.fit(self.model_, Xp)
        self.model_.eval()
        self.history_ = trainer.history
        return Xp

    def _torch(self, Xp):
        from .data.batches import as_tensor

        return as_tensor(Xp)


class AutoencoderTransformer(TransformerMixin, _AutoencoderEstimator):
    """Codes of an autoencoder as features: ``Pipeline([("ae", AutoencoderTransformer()), ("clf", …)])``.

    ``model`` is any registered family (``"ae"``, ``"dae"``, ``"sparse"``, ``"vae"`` …);
    ``model_options`` passes further config fields (e.g. ``{"beta": 4.0}``).
    """

    def fit(self, X, y=None):
        from .tasks.common import codes

        Xp = self._fit(X)
        self.code_shape_ = tuple(codes(self.model_, self._torch(Xp[:1])).shape[1:])  # (D,), or e.g. VQ grids
        self.n_components_ = int(np.prod(self.code_shape_))
        return self

    def transform(self, X):
        """Codes (n, n_components_), float64, flattened when a family's code is not a vector."""
        from .tasks.common import codes

        check_is_fitted(self, "model_")
        return codes(self.model_, self._torch(self._prepared(X))).double().flatten(1).numpy()

    def inverse_transform(self, X):
        """Decode codes (n, latent_dim) back to data units, shaped like the training rows."""
        import torch

        from .data.batches import batched

        check_is_fitted(self, "model_")
        Z = check_array(X, dtype=[np.float64, np.float32]).astype(np.float32)
        if Z.ndim != 2 or Z.shape[1] != self.n_components_:
            raise ValueError(f"X has shape {Z.shape}; inverse_transform takes codes of shape (n, {self.n_components_})")
        with torch.inference_mode():
            R = batched(self.model_.decode, Z.reshape(len(Z), *self.code_shape_)).numpy()
        R = self.preprocessor_.inverse_transform(R).astype(np.float64)
        return R.reshape(len(R), *self._out_shape())

    def _out_shape(self):
        return (self.n_features_in_,) if self.input_shape is not None or len(self.model_.config.input_shape) == 1 \
            else tuple(self.model_.config.input_shape)

    def score_samples(self, X):
        """Minus the per-sample reconstruction error (preprocessed units): higher = more typical."""
        from .tasks.anomaly import reconstruction_error

        check_is_fitted(self, "model_")
        return -reconstruction_error(self.model_, self._torch(self._prepared(X)))

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (so GridSearchCV can select without labels)."""
        return float(np.mean(self.score_samples(X)))


class AnomalyDetector(OutlierMixin, _AutoencoderEstimator):
    """Autoencoder anomaly detector with IsolationForest's conventions.

    With no options it adapts to the training data by one rule (:func:`data_defaults`),
    resolved at ``fit`` and recorded in ``data_kind_``, ``preprocess_`` and ``anomaly_score_``;
    a value the user gives always wins:

    - images (``input_shape=(C, H, W)``, or arrays (n, C, H, W) or (n, H, W)) are scored by
      their reconstruction error (``"recon"``); with values in [0, 1] they are not
      standardized (``preprocess_="none"``; 8-bit images, whole numbers 0–255, are scaled by
      1/255) and the decoder ends in a sigmoid (trained on squared error); other images are
      standardized, with a linear decoder;
    - tables (flat rows, also when every column lies in [0, 1]) are standardized, the decoder
      is linear and the score is ``"combined"``, as before.

    The network is an MLP for both (``arch="mlp"``): 64-8-64 on images, 64-4-64 on tables
    (``latent_dim=None`` resolves to 8 or 4, kept in ``latent_dim_``: a narrower code than the
    many tables with 5 to 9 columns; k-sparse and VQ, which need 8, keep 8; RESULTS.md,
    section A, says how this was chosen). On
    one-class MNIST the conv network scored lower and trained about 15× slower (section B).

    ``anomaly_score``: ``"auto"`` (−ELBO for variational families; else ``"recon"`` on images
    and ``"combined"`` on tables), ``"recon"``, ``"elbo"``, ``"mahalanobis"`` or ``"combined"``
    (see :mod:`aekit.tasks.anomaly`). ``contamination``: ``"auto"`` (1% of the training data
    falls below ``offset_``) or the expected fraction of anomalies in (0, 0.5].
    """

    def __init__(self, model="ae", *, anomaly_score="auto", contamination="auto", latent_dim=None, hidden=(64,),
                 arch="mlp", encoder=None, decoder=None, input_shape=None, preprocess="auto", epochs=50,
                 batch_size="auto", lr=1e-3, weight_decay=0.0, model_options=None, device="cpu", random_state=None,
                 verbose=False):
        super().__init__(model, latent_dim=latent_dim, hidden=hidden, arch=arch, encoder=encoder, decoder=decoder,
                         input_shape=input_shape,
                         preprocess=preprocess, epochs=epochs, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, model_options=model_options, device=device,
                         random_state=random_state, verbose=verbose)
        self.anomaly_score = anomaly_score
        self.contamination = contamination

    def _build_model(self, shape):
        from .errors import AekitError

        if self.latent_dim is None and self.encoder is None and self.decoder is None and self.data_kind_ == "table":
            try:
                return super()._build_model(shape, latent_dim=TABLE_LATENT_DIM)
            except AekitError:  # a family whose config needs a wider code (k-sparse's k, VQ's vectors) keeps 8
                pass
        return super()._build_model(shape)

    def fit(self, X, y=None):
        from .tasks.anomaly import AnomalyScorer

        c = self.contamination
        if not (c == "auto" or (isinstance(c, (int, float)) and 0 < c <= 0.5)):
            raise ValueError(f"contamination must be 'auto' or a float in (0, 0.5], got {c!r}")
        Xp = self._fit(X)
        kind = self.anomaly_score
        if kind == "auto" and self.data_kind_ == "image" and not self.model_.variational:
            kind = "recon"  # on images the code-space part dilutes the reconstruction error
        self.scorer_ = AnomalyScorer(kind).fit(self.model_, self._torch(Xp))
        self.anomaly_score_ = self.scorer_.resolved
        self.latent_dim_ = self.model_.config.latent_dim
        train_scores = -self.scorer_.score(self.model_, self._torch(Xp))
        frac = 0.01 if c == "auto" else float(c)
        self.offset_ = float(np.percentile(train_scores, 100.0 * frac))
        return self

    def score_samples(self, X):
        """Minus the anomaly score: higher = more normal (n,), float64."""
        check_is_fitted(self, "scorer_")
        return -self.scorer_.score(self.model_, self._torch(self._prepared(X)))

    def decision_function(self, X):
        """``score_samples(X) − offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, −1 for outliers."""
        return np.where(self.decision_function(X) >= 0, 1, -1)
