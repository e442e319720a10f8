"""Hypothesis fuzzing of CLI arguments and YAML configs: whatever a user types, ``aekit``
answers with a result or a one-line error (exit 2), never an uncaught exception."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aekit.cli import TRAIN_FLAGS, main, model_flags

FLAG_NAMES = [f.name for f in model_flags()] + [n for n, _, _ in TRAIN_FLAGS]
KEYS = [n for n in FLAG_NAMES if n not in ("epochs", "device")] + [
    "model", "data", "latnt_dim", "beta", "foo", "preprocess",
]
VALUES = st.one_of(
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["ae", "vae", "dae", "sparse", "conv", "mlp", "topk", "kl", "l1", "masking", "relu", "digits",
                     "bce", "mse", "linear", "gaussian", "1,2", "0", "-1", "", "x", "8,8", "none", "standardize"]),
    st.text(max_size=6),
    st.lists(st.integers(-2, 64), max_size=3),
    st.none(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(argv, capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors: exit 2 with a usage line
        assert e.code == 2
        return
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert "aekit: error:" in err and "Traceback" not in err


@FUZZ
@given(options=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4))
def test_yaml_configs(options, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("fuzz")
    (d / "c.yaml").write_text(yaml.safe_dump(options))
    run(["train", "--config", str(d / "c.yaml"), "--epochs", "1", "--out", str(d / "run"), "--quiet",
         "--no-report", "--no-download", "--device", "cpu"], capsys)


FLAGS = [f"--{n.replace('_', '-')}" for n in KEYS if n in FLAG_NAMES]
TOKENS = st.one_of(st.sampled_from(FLAGS), st.sampled_from(["0", "-1", "3", "1e9", "nan", "a", "2,2", "conv", "topk"]))


@FUZZ
@given(model=st.sampled_from(["ae", "dae", "sparse", "vae", "nope"]), tokens=st.lists(TOKENS, max_size=6))
def test_cli_arguments(model, tokens, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("fuzz")
    run(["train", "--model", model, *tokens, "--epochs", "1", "--out", str(d / "run"), "--quiet", "--no-report",
         "--no-download", "--device", "cpu"], capsys)
