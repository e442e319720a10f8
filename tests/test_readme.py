"""README examples are tests: the Python block runs as written, and the quick start's
commands are the ones .ci/run runs."""

from __future__ import annotations

import re

from conftest import ROOT


def blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = blocks("python")
    assert code, "the README has no Python example"
    for block in code:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "vae-digits" / "model.safetensors").exists()
    assert "neg_elbo" in capsys.readouterr().out


def test_quick_start_is_two_commands_and_ci_runs_the_second():
    quick = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    cmds = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, flags=re.S)]
    assert len(cmds) == 2 and all("\n" not in c for c in cmds)
    assert cmds[0].endswith("aekit train")
    ci = (ROOT / ".ci" / "run").read_text()
    assert cmds[1] in ci.splitlines()
