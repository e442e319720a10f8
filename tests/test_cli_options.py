"""``aekit train``'s family flags come from the families' config fields: each field documents
itself (``metadata["help"]``) and gets a flag, typed from its annotation, that parses as the
hand-written flags did; the flags are built only when ``train`` parses, so ``aekit --help``
and the other subcommands stay free of torch."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest

from aekit.cli import build_parser, main, model_flags, resolve_train_options
from aekit.errors import AekitError
from aekit.registry import MODELS, model_names


def family_fields():
    for name in model_names():
        for f in dataclasses.fields(MODELS[name].config_class):
            if f.name != "input_shape":
                yield name, f


def test_every_config_field_documents_itself():
    missing = [f"{name}.{f.name}" for name, f in family_fields() if not f.metadata.get("help", "").strip()]
    assert missing == [], "config fields without metadata['help']"


def test_every_config_field_has_a_flag_with_help():
    flags = {f.name: f for f in model_flags()}
    for name, field in family_fields():
        flag = flags[field.name]
        assert flag.help.strip() and name in flag.families
    assert len(flags) == len({f.name for _, f in family_fields()})  # nothing else
    everyone = set(model_names())
    for f in flags.values():  # the families are named exactly where not all take the option
        assert (f"[{', '.join(f.families)}]" in f.help) == (set(f.families) != everyone), f.name


def test_flag_types_and_choices_come_from_the_annotations():
    flags = {f.name: f for f in model_flags()}
    assert flags["latent_dim"].type is int and flags["noise_level"].type is float
    assert flags["hidden"].type is str and flags["hidden"].metavar == "N,N"  # parsed by the config: 512,256
    assert flags["tied"].metavar == "{true,false}"
    assert flags["sparsity"].metavar == "{l1,kl,topk}"  # SparseAE's choices ∪ KSparseAE's
    assert flags["jacobian"].metavar == "{auto,closed_form,exact,hutchinson}"
    assert flags["arch"].metavar is None  # a registered network's name: no fixed choices
    assert "aekit models --networks" in flags["arch"].help


def test_train_help_lists_every_family_flag(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for f in model_flags():
        assert "--" + f.name.replace("_", "-") in out, f.name
    assert "--noise-level" in out and "[dae, sdae]" in out


def test_only_train_builds_the_family_flags():
    code = textwrap.dedent("""
        import sys
        from aekit.cli import main
        for argv in (["--help"], ["evaluate", "--help"], ["models", "--help"]):
            try:
                main(argv)
            except SystemExit:
                pass
        assert "torch" not in sys.modules, "a --help other than train's imported torch"
        try:
            main(["train", "--help"])
        except SystemExit:
            pass
        assert "torch" in sys.modules
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr


def resolve(*argv):
    return resolve_train_options(build_parser().parse_args(["train", *argv]))


def test_flags_parse_as_before():
    run, model, train = resolve("--model", "dae", "--hidden", "512,256", "--tied", "false", "--noise-clip", "0,1",
                                "--noise-level", "0.5", "--latent-dim", "7", "--epochs", "3")
    assert run["model"] == "dae" and train == {"epochs": 3}
    cfg = MODELS["dae"].config_class.from_dict({**model, "input_shape": (64,)})
    assert cfg.hidden == (512, 256) and cfg.tied is False and cfg.noise_clip == (0.0, 1.0)
    assert cfg.noise_level == 0.5 and cfg.latent_dim == 7
    with pytest.raises(SystemExit):  # argparse's own error for a number that is not one
        build_parser().parse_args(["train", "--latent-dim", "many"])


def test_a_flag_of_another_family_is_refused():
    with pytest.raises(AekitError, match=r"--noise-level: not an option of --model vae"):
        resolve("--model", "vae", "--noise-level", "0.3")


def test_a_plugin_family_gets_its_flags(tmp_path, monkeypatch):
    (tmp_path / "toyfamily.py").write_text(textwrap.dedent("""
        import dataclasses
        from aekit.config import option
        from aekit.models.ae import AE, AEConfig
        from aekit.registry import register

        @dataclasses.dataclass(frozen=True, kw_only=True)
        class ToyConfig(AEConfig):
            toy_width: int = option(3, "the toy's width")

        @register("toy")
        class Toy(AE):
            config_class = ToyConfig
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        args = build_parser().parse_args(["train", "--plugin", "toyfamily", "--model", "toy", "--toy-width", "5"])
        assert args.toy_width == 5
        flag = next(f for f in model_flags() if f.name == "toy_width")
        assert flag.families == ("toy",) and "the toy's width" in flag.help
    finally:
        MODELS.pop("toy", None)
        sys.modules.pop("toyfamily", None)
