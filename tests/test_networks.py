"""Networks by name and the user's own networks (aekit.nets.registry, aekit.nets.sequential).

The seed network as a newcomer writes it trains on real MNIST like aekit's own classic
network; a user-registered convolutional network works in a VAE through the CLI; a
config.json naming a network or plug-in that is not registered is refused without importing
anything.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

import aekit
from aekit.cli import main
from aekit.errors import AekitError
from aekit.nets import get_network, network_names, register_network
from aekit.nets.sequential import from_spec, to_spec


def seed_network():
    """The autoencoder a newcomer writes first: 784-128-64, ReLU, sigmoid output."""
    enc = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64))
    dec = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    return enc, dec


def test_seed_network_on_mnist_matches_the_classic_network(mnist, tmp_path, one_thread):
    torch.manual_seed(0)
    enc, dec = seed_network()
    mine = aekit.AE(encoder=enc, decoder=dec)  # input_shape (784,) from the first Linear, latent 64
    assert mine.config.input_shape == (784,) and mine.config.latent_dim == 64
    assert mine.config.arch == "sequential" and mine.config.output == "sigmoid"
    torch.manual_seed(0)
    ref = aekit.AE(input_shape=(784,), hidden=(128,), latent_dim=64)
    assert mine.n_params() == ref.n_params() == 218192
    # same layers drawn from the same seed in the same order: the same starting weights
    for a, b in zip(mine.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)

    x_train = mnist.train().reshape(-1, 784)[:20000]
    x_test = mnist.test().reshape(-1, 784)
    results = {}
    for name, model in (("mine", mine), ("ref", ref)):
        aekit.Trainer(epochs=3, batch_size=128, seed=0, progress=False, val_split=0).fit(model, x_train)
        results[name] = aekit.evaluate(model, x_test)["mse"]
    # the same training within float rounding (aekit's network trains on the hand-written
    # step, the user's through autograd): the same test MSE up to noise, and learned
    assert results["mine"] == pytest.approx(results["ref"], rel=0.03)
    assert results["mine"] < 0.03  # an untrained decoder's MSE on MNIST is ~0.2

    mine.save_pretrained(tmp_path / "run")
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["net_options"]["encoder"][0] == {"type": "Linear", "in_features": 784,
                                                         "out_features": 128, "bias": True}
    x = torch.from_numpy(x_test[:500])
    by_spec = aekit.load(tmp_path / "run")  # rebuilt from config.json alone
    torch.testing.assert_close(by_spec.score(x), mine.score(x), rtol=0, atol=0)
    e2, d2 = seed_network()
    with_modules = aekit.load(tmp_path / "run", encoder=e2, decoder=d2)  # the modules passed again
    torch.testing.assert_close(with_modules.score(x), mine.score(x), rtol=0, atol=0)
    assert with_modules.encoder is e2


def test_seed_network_run_works_with_detect_and_report(mnist, tmp_path, capsys, one_thread):
    torch.manual_seed(0)
    enc, dec = seed_network()
    model = aekit.AE(encoder=enc, decoder=dec)
    run = tmp_path / "run"
    data = aekit.data.Data(x_train=mnist.x_train[:3000].reshape(-1, 784), x_test=mnist.x_test[:1000].reshape(-1, 784),
                           y_test=mnist.y_test[:1000], name="mnist-flat", preprocess=mnist.preprocess)
    aekit.Trainer(epochs=2, batch_size=64, progress=False, out_dir=run).fit(model, data)
    ones = mnist.y_test[:1000] == 1
    np.savez(tmp_path / "rows.npz", x=mnist.x_test[:1000].reshape(-1, 784), y=ones.astype(int))
    assert main(["detect", str(run), "--data", str(tmp_path / "rows.npz"), "--out", str(tmp_path / "s.csv")]) == 0
    assert "AUROC=" in capsys.readouterr().out
    scores = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1, usecols=1)
    assert len(scores) == 1000 and np.isfinite(scores).all()
    assert main(["report", str(run), "--data", str(tmp_path / "rows.npz")]) == 0
    assert (run / "report.html").stat().st_size > 10_000


PLUGIN = '''
import torch
from torch import nn
import aekit

@aekit.register_network("tiny-conv")
def tiny_conv(input_shape, code_dim, latent_dim, width=8):
    """two strided convolutions down, two transposed convolutions up (user plug-in)"""
    c, h, w = input_shape
    enc = nn.Sequential(nn.Conv2d(c, width, 4, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), code_dim))
    dec = nn.Sequential(nn.Linear(latent_dim, 2 * width * (h // 4) * (w // 4)), nn.ReLU(),
                        nn.Unflatten(1, (2 * width, h // 4, w // 4)), nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
                        nn.ReLU(), nn.ConvTranspose2d(width, c, 4, 2, 1))
    return enc, dec
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plug-in module on sys.path that registers 'tiny-conv' when imported."""
    pkg = tmp_path / "plugins"
    pkg.mkdir()
    (pkg / "aekit_test_nets.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(pkg))
    yield "aekit_test_nets"
    from aekit.nets.registry import NETWORKS

    NETWORKS.pop("tiny-conv", None)
    sys.modules.pop("aekit_test_nets", None)


def test_user_registered_conv_network_in_a_vae(plugin, mnist, tmp_path, capsys, one_thread):
    np.save(tmp_path / "digits.npy", mnist.x_train[:1500])  # (N, 1, 28, 28) uint8
    run = tmp_path / "run"
    assert main(["train", "--model", "vae", "--arch", "tiny-conv", "--plugin", plugin, "--data",
                 str(tmp_path / "digits.npy"), "--epochs", "3", "--latent-dim", "8", "--out", str(run),
                 "--quiet"]) == 0
    hist = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    col = hist[0].index("train_loss")
    assert float(hist[-1][col]) < float(hist[1][col])  # it learned
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["arch"] == "tiny-conv" and cfg["plugins"] == [plugin]
    assert main(["sample", str(run), "-n", "16", "--out", str(tmp_path / "s.png"), "--plugin", plugin]) == 0
    assert main(["interpolate", str(run), "--index", "0", "1", "--out", str(tmp_path / "i.png"), "--plugin", plugin]) == 0
    assert main(["report", str(run), "--plugin", plugin]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0 and (tmp_path / "i.png").stat().st_size > 0
    model = aekit.load(run, plugins=[plugin])
    assert type(model) is aekit.VAE and model.network.name == "tiny-conv"
    assert model.sample(4).shape == (4, 1, 28, 28)
    assert model.inference_batch_size() >= 64  # measured from the dummy batch, not guessed


HOSTILE = '''
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").write_text("this module ran")
'''


@pytest.mark.parametrize("what", ["network", "model_class"])
def test_config_naming_unregistered_code_is_refused_without_importing(what, tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "evil"
    pkg.mkdir()
    (pkg / "aekit_evil_plugin.py").write_text(HOSTILE)
    monkeypatch.syspath_prepend(str(pkg))
    run = tmp_path / "run"
    aekit.AE(input_shape=(4,), hidden=(3,), latent_dim=2).save_pretrained(run)
    cfg = json.loads((run / "config.json").read_text())
    if what == "network":
        cfg["model"]["arch"] = "aekit_evil_plugin"
    else:
        cfg["model_class"] = "aekit_evil_plugin.Evil"
    cfg["plugins"] = ["aekit_evil_plugin"]
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(AekitError, match="not registered.*aekit_evil_plugin.*plugins="):
        aekit.load(run)
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    assert main(["detect", str(run), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not registered" in err
    assert "aekit_evil_plugin" not in sys.modules
    assert not (pkg / "IMPORTED").exists()  # nothing a file named ran
    assert not (tmp_path / "o.csv").exists()


def test_bad_user_modules_are_named_with_their_shapes():
    enc = nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(6, 3))
    with pytest.raises(AekitError, match=r"decoder: Sequential fails on a code shaped \(2, 3\).*latent_dim=3"):
        aekit.AE(encoder=enc, decoder=nn.Sequential(nn.Linear(5, 10)))
    with pytest.raises(AekitError, match=r"decoder: Sequential maps \(2, 3\) to \(2, 9\).*\(batch, 10\)"):
        aekit.AE(encoder=enc, decoder=nn.Sequential(nn.Linear(3, 9)))
    with pytest.raises(AekitError, match=r"encoder: Sequential fails on a batch shaped \(2, 12\)"):
        aekit.AE(input_shape=(12,), encoder=enc, decoder=nn.Sequential(nn.Linear(3, 12)))
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten())
    with pytest.raises(AekitError, match="input_shape: cannot be read.*Conv2d"):
        aekit.AE(encoder=conv, decoder=nn.Linear(3, 4))
    with pytest.raises(AekitError, match="decoder: expected a torch.nn.Module"):
        aekit.AE(encoder=enc, decoder="linear")
    with pytest.raises(AekitError, match="output: the decoder ends in nn.Sigmoid but output='linear'"):
        aekit.AE(encoder=enc, decoder=nn.Sequential(nn.Linear(3, 10), nn.Sigmoid()), output="linear")
    with pytest.raises(AekitError, match="either arch='conv' or encoder/decoder"):
        aekit.AE(encoder=enc, decoder=nn.Linear(3, 10), arch="conv")


class Encoder(nn.Module):
    """Not an nn.Sequential: recorded as arch='module' and passed again at load time."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.GELU())

    def forward(self, x):
        return self.body(x)


def test_vae_adds_its_posterior_head_to_a_user_encoder(tmp_path):
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(5, 64), nn.Unflatten(1, (1, 8, 8)))
    vae = aekit.VAE(input_shape=(1, 8, 8), latent_dim=5, encoder=Encoder(), decoder=dec)
    assert vae.config.arch == "module"
    assert vae.config.net_options == {"encoder": "Encoder", "decoder": "Sequential"}
    assert vae.encoder.head.in_features == 32 and vae.encoder.head.out_features == 10  # μ and log σ²
    x = torch.rand(6, 1, 8, 8)
    assert vae.encode(x).mean.shape == (6, 5)
    vae.save_pretrained(tmp_path)
    with pytest.raises(AekitError, match=r"own modules \(Encoder, Sequential\); pass them again"):
        aekit.load(tmp_path)
    torch.manual_seed(1)
    same = aekit.load(tmp_path, encoder=Encoder(), decoder=nn.Sequential(nn.Linear(5, 64), nn.Unflatten(1, (1, 8, 8))))
    torch.testing.assert_close(same.reconstruct(x), vae.reconstruct(x), rtol=0, atol=0)


def test_layer_specs_round_trip_and_refuse_what_they_do_not_know():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
                        nn.Sequential(nn.Dropout(0.2), nn.Flatten()), nn.LayerNorm(128), nn.Linear(128, 4))
    spec = to_spec(net)
    assert spec is not None and json.loads(json.dumps(spec)) == spec
    again = from_spec(json.loads(json.dumps(spec)))
    assert repr(again) == repr(net)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}
    assert to_spec(nn.Sequential(Encoder())) is None  # a user class: no spec
    assert to_spec(aekit.nets.mlp([4, 2], "relu")) is None  # a subclass of nn.Sequential: no spec
    with pytest.raises(AekitError, match=r"'system' is not a stock torch.nn layer"):
        from_spec([{"type": "system", "command": "rm -rf /"}])
    with pytest.raises(AekitError, match=r"cannot build Linear"):
        from_spec([{"type": "Linear", "in_features": "many"}])


def test_register_network_rules():
    assert {"mlp", "conv", "sequential"} <= set(network_names())
    with pytest.raises(AekitError, match="built-in network"):
        register_network("conv")(lambda input_shape, code_dim, latent_dim: None)

    @register_network("test-twice")
    def first(input_shape, code_dim, latent_dim, width=4):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], code_dim)), nn.Linear(latent_dim, input_shape[0])

    try:
        with pytest.raises(AekitError, match="already registered"):
            register_network("test-twice")(lambda input_shape, code_dim, latent_dim: None)
        with pytest.raises(AekitError, match="takes no option 'widht' \\(did you mean 'width'\\?\\)"):
            aekit.AE(input_shape=(5,), arch="test-twice", net_options={"widht": 2})
        with pytest.raises(AekitError, match="net_options: values must be JSON"):
            aekit.AE(input_shape=(5,), arch="test-twice", net_options={"width": object()})
        with pytest.raises(AekitError, match="arch: 'test-twic' is not a registered network \\(did you mean"):
            aekit.AE(input_shape=(5,), arch="test-twic")
        with pytest.raises(AekitError, match="net_options: the mlp network"):
            aekit.AE(input_shape=(5,), net_options={"width": 2})
        m = aekit.AE(input_shape=(5,), arch="test-twice", latent_dim=3, net_options={"width": 2})
        assert m.network is get_network("test-twice") and not m.network.fast_path
        assert m(torch.rand(4, 5)).recon.shape == (4, 5)
    finally:
        from aekit.nets.registry import NETWORKS

        NETWORKS.pop("test-twice", None)


def test_models_lists_the_networks(capsys):
    assert main(["models", "--networks"]) == 0
    out = capsys.readouterr().out
    for name in ("mlp", "conv", "sequential", "module"):
        assert f"\n{name} " in "\n" + out


def test_sklearn_estimators_take_the_users_modules():
    from sklearn.base import clone
    from sklearn.datasets import load_digits

    from aekit.sklearn import AnomalyDetector, AutoencoderTransformer

    x = load_digits().data / 16.0
    enc = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 6))
    dec = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())
    det = AnomalyDetector(encoder=enc, decoder=dec, preprocess="none", epochs=5, random_state=0).fit(x[:1500])
    assert det.model_.config.arch == "sequential" and det.model_.config.latent_dim == 6
    assert det.model_.encoder is not enc  # copied: the estimator's parameter is left as given
    assert not torch.equal(det.model_.encoder[0].weight, enc[0].weight)  # and trained
    again = clone(det).fit(x[:1500])
    np.testing.assert_allclose(again.score_samples(x[1500:]), det.score_samples(x[1500:]), rtol=1e-5)
    tr = AutoencoderTransformer(model="vae", encoder=nn.Sequential(nn.Linear(64, 16), nn.Tanh()), latent_dim=3,
                                decoder=nn.Sequential(nn.Linear(3, 64)), epochs=3, random_state=0).fit(x[:500])
    assert tr.transform(x[:7]).shape == (7, 3)


def test_a_token_network_keeps_integer_inputs():
    """A network registered with input_dtype='long' gets token ids as integers, up to its
    embedding (the dummy batch at construction too); floats are refused at the boundary."""

    @register_network("test-tokens", input_dtype="long")
    def tokens(input_shape, code_dim, latent_dim, vocab=10):
        enc = nn.Sequential(nn.Embedding(vocab, 3), nn.Flatten(), nn.Linear(3 * input_shape[0], code_dim))
        return enc, nn.Linear(latent_dim, input_shape[0])

    try:
        m = aekit.AE(input_shape=(5,), arch="test-tokens", latent_dim=2, output="linear")
        assert m.input_dtype() == torch.long
        ids = torch.randint(0, 10, (4, 5))
        assert m.check_input(ids).dtype == torch.long
        assert m.transform(ids).shape == (4, 2)
        with pytest.raises(AekitError, match="takes integer token ids, got torch.float32"):
            m.check_input(ids.float())
        assert aekit.AE(input_shape=(5,), latent_dim=2).input_dtype() == torch.float32
    finally:
        from aekit.nets.registry import NETWORKS

        NETWORKS.pop("test-tokens", None)
