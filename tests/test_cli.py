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
