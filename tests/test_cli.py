"""The console script: version, help, and only working subcommands registered."""

from __future__ import annotations

import argparse
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
    # values that would run and print a verdict they cannot support: refused from the value
    (["validate", "--sigma", "1e300"], "argument --sigma: 1e+300 is above 10"),
    (["robustness", "--sigmas", "0,1e6"], "argument --sigmas: '0,1e6': 1e+06 is above 10"),
    (["check", "--sigmas", "0,11"], "argument --sigmas: '0,11': 11 is above 10"),
    (["inspect", "--model", "x.py:f", "--sigma", "20"], "argument --sigma: 20 is above 10"),
    (["rademacher", "--delta", "1e9"], "argument --delta: 1e+09 is above 1"),
    (["robustness", "--delta", "1.5"], "argument --delta: 1.5 is above 1"),
    (["graph", "--delta", "2"], "argument --delta: 2 is above 1"),
    (["validate", "--epochs", "0"], "argument --epochs: 0 is below 1"),
    (["validate", "--grid", "1"], "argument --grid: 1 cells per axis: give 32 .. 3535"),
    (["validate", "--grid", "100000"], "argument --grid: 100000 cells per axis: give 32 .."),
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
    (["derive", "--assume", "A1,,a2"], "argument --assume: 'A1,,a2' has an empty item"),
    (["derive", "--assume", "A1,a1"], "argument --assume: 'A1,a1': A1 is given twice"),
    (["derive", "--assume", "A1,B2"], "argument --assume: 'A1,B2': unknown axiom 'B2'"),
    (["derive", "--dim", "0"], "argument --dim: 0 is below 1"),
    (["derive", "--dim", "1000"], "argument --dim: 1000 is above 5: the symbolic derivation"),
    (["robustness", "--eps", "0,-0.1"], "argument --eps: '0,-0.1': -0.1 is negative"),
    (["robustness", "--sigmas", "0,0.3,0.3"], "argument --sigmas: '0,0.3,0.3': 0.3 appears "
     "twice"),
    (["rademacher", "--sigmas", "0,0.5,0.1"], "argument --sigmas: '0,0.5,0.1': 0.1 comes after "
     "0.5; give the values in increasing order"),
    (["robustness", "--eps", "0,0.2,0.1"], "argument --eps: '0,0.2,0.1': 0.1 comes after 0.2"),
    (["graph", "--tau-factors", "1,1"], "argument --tau-factors: '1,1': 1 appears twice"),
    (["sweep", "examples/sweep.toml", "--workers", "0"], "argument --workers: 0 is below 1"),
    (["solve", "--frames", "x"], "argument --frames: 'x' is not an integer"),
    (["graph", "--data", "moons,foo"], "argument --data: 'moons,foo': unknown foo"),
    (["graph", "--data", "moons,moons"], "argument --data: 'moons,moons': a name is repeated"),
    (["graph", "--limit-ns", "100,200,300"], "argument --limit-ns: '100,200,300': give at "
     "least 4 increasing sizes"),
    (["graph", "--limit-ns", "100,200,150,400"], "give at least 4 increasing sizes"),
    (["graph", "--tau-factors", "1,0"], "argument --tau-factors: '1,0': 0.0 is not > 0"),
    (["graph", "--tau", "-0.5"], "argument --tau: -0.5 is not > 0"),
    (["check", "--substeps", "2,4,8"], "argument --substeps: '2,4,8': the first level is 2; it "
     "must be 1 (the network itself)"),
    (["inspect", "--model", "x.py:f", "--substeps", "1,3,4"], "argument --substeps: '1,3,4': 3 "
     "does not divide the finest level 4"),
    (["inspect", "--model", "x.py:f", "--substeps", "1,2"], "argument --substeps: '1,2': 2 "
     "level(s); an order needs at least 3"),
    (["check", "--substeps", "1,4,2"], "argument --substeps: '1,4,2': the levels must increase"),
    (["check", "--substeps", "1,2,4096"], "argument --substeps: '1,2,4096': the finest level "
     "4096 is above 1024"),
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


def test_derive_assume_is_canonical_and_the_note_names_the_missing_axiom(capsys):
    from validation.cli.types import axiom_list

    assert axiom_list("a5, A1,A3") == "A1,A3,A5"
    assert main(["derive", "--assume", "A1,a2", "--no-exact", "--technique", "plain"]) == 0
    out = capsys.readouterr().out
    assert "Without A3 the generator" in out and "Without A2" not in out


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_help_shows_every_default_and_an_example_that_parses(name):
    p = _subparsers()[name]
    text = p.format_help()
    for action in p._actions:
        if action.dest in ("help",) or not action.option_strings:
            continue
        assert action.help, f"{name} {action.option_strings} has no help"
        shown = p._get_formatter()._expand_help(action)
        if action.nargs == 0:  # a flag: its destination's default would read as the flag's
            assert "(default:" not in shown, f"{name} {action.option_strings}: {shown}"
            continue
        if action.default is None:  # "not given": the help says what that does, once
            assert "(default: None)" not in shown and shown.count("(default:") <= 1, \
                f"{name} {action.option_strings}: {shown}"
            continue
        assert "(default:" in shown or \
            "%(default)" in action.help, f"{name} {action.option_strings}: default not shown"
        assert shown.count("(default:") <= 1, f"{name} {action.option_strings}: {shown}"
        assert "(default " not in shown, f"{name} {action.option_strings}: {shown}"
    assert "example:\n  cdverify " + name in text
    example = text.split("example:\n  ", 1)[1].split("\n")[0]
    args = build_parser().parse_args(example.split()[1:])  # the example is a valid command
    assert args.command == name


def test_help_default_check_can_fail():
    # negative control: an option added without help text shows no default
    p = _subparsers()["solve"]
    p.add_argument("--undocumented", default=3)
    action = p._actions[-1]
    assert action.help is None or "(default:" not in p._get_formatter()._expand_help(action)


def test_a_flag_shows_no_default_and_a_formatter_that_shows_one_fails_the_check():
    # --no-library stores False into 'library' (default True): "(default: True)" beside
    # "leave out the library" read as the opposite of what the flag does
    p = _subparsers()["check"]
    flag = next(a for a in p._actions if "--no-library" in a.option_strings)
    assert "(default:" not in p._get_formatter()._expand_help(flag)
    # negative control: the plain argparse formatter shows the misleading default
    plain = argparse.ArgumentDefaultsHelpFormatter("cdverify check")
    assert "(default: True)" in plain._expand_help(flag)
    # a help that states its default in words: once, not followed by "(default: None)"
    smoothing = next(a for a in p._actions if "--smoothing" in a.option_strings)
    assert p._get_formatter()._expand_help(smoothing).count("(default:") == 1
    assert plain._expand_help(smoothing).count("(default:") == 2  # control
    # a None default, stated in words or not: not shown ("(None: ...) (default: None)")
    out = next(a for a in _subparsers()["report"]._actions if "--out" in a.option_strings)
    assert "None:" in out.help and "(default:" not in p._get_formatter()._expand_help(out)
    assert "(default: None)" in plain._expand_help(out)  # control


def test_an_os_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import validation.store.io as io

    blocked = tmp_path / "x.json"

    def full_disk(path, text):  # a failure after the work: the disk fills up
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(io, "atomic_write_text", full_disk)
    assert main(["derive", "--technique", "plain", "--no-exact", "--json", str(blocked)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cdverify derive: error: ") \
        and str(blocked) in err[0], err
    with pytest.raises(OSError):
        main(["derive", "--technique", "plain", "--no-exact", "--json", str(blocked),
              "--debug"])


def test_a_folder_that_is_not_writable_is_refused(tmp_path, capsys, monkeypatch):
    import os

    from validation.cli.types import folder_problem

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked)
                        else real(p, mode))  # root may write anywhere: simulate the mode
    assert folder_problem(locked / "out") == f"cannot be created: {locked} is not writable"
    assert folder_problem(locked) == "is not writable"
    assert folder_problem(tmp_path / "fresh" / "deeper") is None  # control
    assert main(["validate", "--out", str(locked / "out")]) == 2
    assert "--out" in capsys.readouterr().err and not (locked / "out").exists()


def test_version_and_the_command_list_import_neither_torch_nor_sympy():
    # a subcommand's module is imported only when it runs; the full parser (the control)
    # imports torch through the validation commands
    import subprocess
    import sys

    code = ("import sys; from validation.cli import build_parser; build_parser({}); "
            "print('torch' in sys.modules, 'sympy' in sys.modules)")
    lazy = subprocess.run([sys.executable, "-c", code.format("only=''")], capture_output=True,
                          text=True, check=True).stdout.split()
    full = subprocess.run([sys.executable, "-c", code.format("")], capture_output=True,
                          text=True, check=True).stdout.split()
    assert lazy == ["False", "False"] and full == ["True", "True"]
    derive = subprocess.run([sys.executable, "-c", code.format("only='derive'")],
                            capture_output=True, text=True, check=True).stdout.split()
    assert derive == ["False", "True"]  # derive pays for sympy, not for torch


@pytest.mark.parametrize("argv, torch_loaded", [
    (["graph", "--limit-ns", "5,6,7,8"], False),
    (["check", "--data", "nosuch"], False),
    (["check", "--sigmas", "0.1,0.3"], False),
    (["check", "--claims", "nosuch"], False),
    # the control: a model name is checked against the factories, after torch is imported
    (["check", "--model", "nosuch"], True),
])
def test_value_refusals_of_graph_and_check_come_before_torch(argv, torch_loaded):
    import subprocess
    import sys

    code = ("import sys; from validation.cli import main\n"
            f"try:\n    rc = main({argv!r})\nexcept SystemExit as e:\n    rc = e.code\n"
            "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["2", str(torch_loaded)], out


@pytest.mark.parametrize("command", ["validate", "inspect"])
def test_a_negative_seed_is_refused_naming_the_option(command, capsys):
    argv = [command, "--seed", "-1"] + (["--model", "x.py:f"] if command == "inspect" else [])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "argument --seed: -1 is negative; give a seed >= 0" in capsys.readouterr().err


def test_derive_output_paths_and_pseudo_file_systems_are_refused_before_any_work(capsys,
                                                                              tmp_path):
    for argv, msg in ((["derive", "--json", str(tmp_path)], "is a folder; give a file name"),
                      (["derive", "--latex", "/proc/x.tex"], "cannot take a file: /proc"),
                      (["solve", "--example", "rotation", "--out", "/proc/cdv"],
                       "--out /proc/cdv: cannot take a file")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # nothing written, the probe removed


def test_more_test_points_than_the_split_has_are_refused_before_training(tmp_path, capsys):
    out = tmp_path / "v"
    assert main(["validate", "--test-points", "100000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--test-points 100000: the moons test split has 240 points" in err
    assert not out.exists() or not any(out.iterdir())  # no training, nothing written


def test_more_rademacher_points_than_the_split_has_are_refused_before_any_job(tmp_path,
                                                                              capsys):
    out = tmp_path / "r"
    assert main(["rademacher", "--points", "1000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--points 1000000: the moons training split has 720 points" in err
    assert not (out / "rademacher.json").exists()


def test_a_huge_frame_count_is_refused_before_the_solve(tmp_path, capsys):
    """--frames beyond MAX_FRAMES (hours of snapshots and GIF frames) is one line, exit 2,
    nothing written; the largest allowed count is accepted by the same check."""
    from validation.studies.flows.examples import MAX_FRAMES

    out = tmp_path / "s"
    assert main(["solve", "--example", "rotation", "--frames", str(MAX_FRAMES + 1),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"at most {MAX_FRAMES}" in err[0] and not out.exists()


def test_a_solve_projected_beyond_its_time_limit_stops_with_the_projection(tmp_path, capsys):
    """--max-minutes: a run whose projection from its first steps exceeds the limit stops with
    one line that names the projection and the option, nothing written, the progress bar
    cleared first (the message starts its own line); the control, the same solve under the
    default limit, runs and writes its files."""
    out = tmp_path / "s"
    args = ["solve", "--example", "rotation", "--stepper", "rk4", "--n", "48", "--frames", "2"]
    assert main([*args, "--max-minutes", "1e-5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1].split("\r")[-1]  # what a terminal shows of that line
    assert last.startswith("cdverify solve: error: this solve would take about "), err[-500:]
    assert "steps of" in last and last.endswith("(--max-minutes 1e-05)"), last
    assert not out.exists()
    assert main([*args, "--out", str(out)]) == 0 and (out / "solve.json").is_file()


def test_an_unstable_step_refusal_starts_its_own_line(tmp_path, capsys):
    """The unstable-dt refusal is raised inside the solve, where the progress bar is open:
    the bar is cleared before the one-line message (it used to be printed on the bar's line),
    and the spacing is printed to 3 digits."""
    assert main(["solve", "--stepper", "rk4", "--dt", "1", "--out", str(tmp_path / "s")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1].split("\r")[-1]
    assert last.startswith("cdverify solve: error: dt = 1 exceeds the stability limit"), last
    assert "dx = 0.0208, 0.0208)" in last, last


@pytest.mark.parametrize("example, n", [("rotation", 5000), ("spiral-sink-3d", 400),
                                        ("advected-gaussian-1d", 2_000_000)])
def test_a_solve_that_needs_more_memory_than_the_machine_has_is_refused_first(
        example, n, tmp_path, capsys, monkeypatch):
    """The estimate from the options against the memory available (fixed here at 4 GB): one
    line naming n, the estimate and the memory, exit 2, nothing written. The control: with
    room to spare the same n passes this check and meets the next one (the grid's cell cap)
    or, within the cap, the estimate is below the memory."""
    import validation.store.machine as machine
    from validation.studies.flows.examples import memory_estimate

    monkeypatch.setattr(machine, "available_memory", lambda: 4e9)
    out = tmp_path / "s"
    assert main(["solve", "--example", example, "--n", str(n), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"n = {n}: {example} on {n}^" in err[0], err
    assert "GB, and this machine has 4 GB available" in err[0] and not out.exists()
    dim = {"rotation": 2, "spiral-sink-3d": 3, "advected-gaussian-1d": 1}[example]
    assert memory_estimate(dim, n, 12) > 4e9 > memory_estimate(dim, n // 4, 12)
    monkeypatch.setattr(machine, "available_memory", lambda: 1e18)
    assert main(["solve", "--example", example, "--n", str(n * 100), "--out", str(out)]) == 2
    assert "numerics.grid.MAX_CELLS" in capsys.readouterr().err  # the memory check passed


@pytest.mark.slow
@pytest.mark.parametrize("example, stepper, n", [("rotation", "semi-lagrangian", 768),
                                                 ("spiral-sink-3d", "crank-nicolson", 48)])
def test_the_solve_memory_estimate_bounds_the_measured_peak(example, stepper, n):
    """At sizes the estimate's constants were not read from: the estimate is above the peak
    the run adds (so a refusal never lets through a run that cannot fit) and within 3x of it
    (so it does not refuse what fits easily)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "bench_solve_memory.py"
    code = (f"import sys; sys.path.insert(0, {str(script.parent)!r}); "
            "import bench_solve_memory as b, json; "
            f"print(json.dumps(b.measure({example!r}, {stepper!r}, {n})))")
    m = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.strip().splitlines()[-1])
    assert m["added"] < m["estimate"] < 3 * m["added"], m


def test_the_derivation_refuses_a_dimension_that_would_run_for_hours():
    from theory import TheoryError
    from theory.axioms import MAX_DIM, derive

    with pytest.raises(TheoryError, match=f"dim = {MAX_DIM + 1} .*at most {MAX_DIM}"):
        derive(dim=MAX_DIM + 1)
    assert derive(dim=2).equation  # control: the default dimension derives


def test_the_capped_values_are_accepted_at_their_bounds():
    import argparse

    from validation.cli.types import dimension, effect, noise_level, noise_levels

    assert noise_level("10") == 10 and effect("1") == 1 and dimension("5") == 5
    assert noise_levels("0,10") == (0.0, 10.0)
    for fn, text in ((noise_level, "10.000001"), (effect, "1.0000001"), (dimension, "6")):
        with pytest.raises(argparse.ArgumentTypeError):  # just above: refused
            fn(text)


def test_validate_with_a_model_refuses_training_options_it_would_ignore(tmp_path, capsys):
    """validate --model FILE uses the model's own training config: a spirals model run with
    --data digits printed spirals' numbers (exit 0). An option set away from its default and
    from the model's value is now refused by name, before the agreement runs; the defaults,
    or the model's own values, pass (control)."""
    import argparse as ap

    import torch

    from validation.cli.validate import add_arguments
    from validation.nets.models import DiffusionResNet
    from validation.nets.train import TrainConfig, refuse_overrides, save_model

    torch.manual_seed(0)
    cfg = TrainConfig(data="circles", sigma=0.2, blocks=4)
    save_model(DiffusionResNet(2, 2, blocks=4, sigma=0.2), cfg, {"epoch": []}, tmp_path)
    out = tmp_path / "v"
    assert main(["validate", "--model", str(tmp_path / "model.pt"), "--data", "digits",
                 "--sigma", "0.5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--data digits (the model's: circles); --sigma 0.5 (the model's: 0.2)" in err
    assert len(err.splitlines()) == 1 and not out.exists()
    p = ap.ArgumentParser()
    add_arguments(p)
    for argv in ([], ["--data", "circles", "--sigma", "0.2", "--blocks", "4"]):
        args = p.parse_args(["--model", str(tmp_path / "model.pt"), *argv])
        refuse_overrides(args.model, cfg, vars(args), vars(p.parse_args([])))  # nothing to refuse
