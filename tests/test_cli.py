"""The console script: version, help, and only working subcommands registered."""

from __future__ import annotations

import subprocess
import sys

import pytest

from validation.cli import SUBCOMMANDS, build_parser, main


def test_version_flag_prints_installed_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"cdverify {version('cdverify')}"


def test_help_lists_every_registered_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_unknown_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_every_subcommand_module_provides_run():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(SUBCOMMANDS)
    for p in sub.choices.values():
        assert callable(p.get_default("_run"))


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "validation.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("cdverify ")


# issue 13's rows that argparse can refuse: one line naming the option, exit 2, no work done
BAD_OPTIONS = [
    (["validate", "--sigma", "nan"], "argument --sigma: 'nan' is not finite"),
    (["validate", "--epochs", "0"], "argument --epochs: 0 is below 1"),
    (["validate", "--T", "-1"], "argument --T: -1.0 is not > 0"),
    (["rademacher", "--sigmas", "0,nan"], "argument --sigmas: '0,nan': 'nan' is not finite"),
    (["rademacher", "--seeds", "0"], "argument --seeds: 0 is below 1"),
    (["robustness", "--sigmas", "0,-0.3"], "argument --sigmas: '0,-0.3': -0.3 is negative"),
    (["robustness", "--sigmas", "0,abc"], "argument --sigmas: '0,abc': 'abc' is not a number"),
    (["robustness", "--sigmas", "0,,0.3"], "argument --sigmas: '0,,0.3' has an empty item"),
    (["robustness", "--seeds", "0"], "argument --seeds: 0 is below 1"),
    (["robustness", "--K", "two"], "argument --K: 'two' is not an integer"),
    (["solve", "--dt", "0"], "argument --dt: 0.0 is not > 0"),
    (["report", "--data", "nosuch"], "argument --data: invalid choice: 'nosuch'"),
]


@pytest.mark.parametrize("argv,message", BAD_OPTIONS, ids=lambda a: " ".join(a)
                         if isinstance(a, list) else "")
def test_bad_options_fail_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err[-1]
    assert not out.exists()


@pytest.mark.parametrize("command", ["solve", "validate", "robustness", "rademacher", "report",
                                     "sweep"])
def test_output_folder_under_a_file_is_refused_before_any_work(command, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = [command] + (["examples/sweep.toml"] if command == "sweep" else [])
    assert main(argv + ["--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cdverify {command}: error: --out {blocker / 'out'}: lies under {blocker}, "
                   "which is a file; choose another folder"]
    assert blocker.read_text() == "x"
    if command == "report":  # --cache too
        assert main(["report", "--cache", str(blocker)]) == 2
        assert "--cache" in capsys.readouterr().err
