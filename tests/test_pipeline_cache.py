"""Caches that heal, claims shared by concurrent runs, and what ended runs leave behind.

Each healing test corrupts one kind of cached file (a stage's result.json, a file listed in a
stage's manifest, a per-run JSON result, a model.pt, a train.json) and checks that the rerun
names the file, recomputes, and reproduces the numbers; each claim test has its control (the
same situation without the claim, or with a live owner).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from validation.nets.cached import cached_model
from validation.store.cache import cached_json, stage
from validation.store.locks import HOST, claim, clean_stale, process_alive, tmp_tag


def _dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _stage_compute(calls: list, value: float = 1.5):
    def compute(folder: Path) -> dict:
        calls.append(1)
        (folder / "figure.png").write_bytes(b"\x89PNG fake bytes " + str(value).encode())
        (folder / "sub").mkdir()
        (folder / "sub" / "table.csv").write_text("a,b\n1,2\n")
        return {"value": value}
    return compute


def test_stage_is_computed_once_and_reused(tmp_path):
    calls = []
    res, folder, fresh = stage(tmp_path, "demo", {"k": 1}, _stage_compute(calls))
    assert fresh and res["value"] == 1.5 and len(calls) == 1
    res2, folder2, fresh2 = stage(tmp_path, "demo", {"k": 1}, _stage_compute(calls))
    assert not fresh2 and folder2 == folder and res2 == res and len(calls) == 1
    manifest = json.loads((folder / "result.json").read_text())["files"]
    assert set(manifest) == {"figure.png", "sub/table.csv"}


@pytest.mark.parametrize("damage", ["truncate result.json", "garbage result.json",
                                    "flip a byte of figure.png", "truncate sub/table.csv",
                                    "delete figure.png"])
def test_a_damaged_stage_is_named_and_recomputed(damage, tmp_path, capsys):
    calls = []
    ref, folder, _ = stage(tmp_path, "demo", {"k": 1}, _stage_compute(calls))
    action, _, name = damage.partition(" ")
    name = name.replace("a byte of ", "")
    target = folder / name
    data = target.read_bytes()
    if action == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif action == "garbage":
        target.write_bytes(b"\x00\xff not json")
    elif action == "flip":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    else:
        target.unlink()
    capsys.readouterr()
    res, folder2, fresh = stage(tmp_path, "demo", {"k": 1}, _stage_compute(calls))
    assert fresh and len(calls) == 2
    assert res["value"] == ref["value"]
    err = capsys.readouterr().err
    assert str(target) in err and "recomput" in err
    assert (folder2 / "figure.png").read_bytes() == b"\x89PNG fake bytes 1.5"


def test_stage_without_manifest_damage_is_not_recomputed(tmp_path, capsys):
    # control: the check is on content, not on timestamps; touching a file changes nothing
    calls = []
    _, folder, _ = stage(tmp_path, "demo", {"k": 1}, _stage_compute(calls))
    os.utime(folder / "figure.png", (0, 0))
    _, _, fresh = stage(tmp_path, "demo", {"k": 1}, _stage_compute(calls))
    assert not fresh and len(calls) == 1 and capsys.readouterr().err == ""


def test_an_interrupted_stage_leaves_nothing(tmp_path):
    def compute(folder):
        (folder / "part.png").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage(tmp_path, "demo", {"k": 1}, compute)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "garbage", "no result key"])
def test_a_damaged_json_result_is_named_and_recomputed(damage, tmp_path, capsys):
    calls = []

    def compute():
        calls.append(1)
        return {"R": 0.25}

    assert cached_json(tmp_path, "run", {"a": 1}, compute) == {"R": 0.25}
    (path,) = (tmp_path / "cache").glob("run-*.json")
    text = path.read_text()
    path.write_text({"truncate": text[:10], "garbage": "][",
                     "no result key": json.dumps({"stage": "run"})}[damage])
    capsys.readouterr()
    assert cached_json(tmp_path, "run", {"a": 1}, compute) == {"R": 0.25}
    assert len(calls) == 2
    if damage != "no result key":
        assert str(path) in capsys.readouterr().err
    assert json.loads(path.read_text())["result"] == {"R": 0.25}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from validation.nets.train import TrainConfig

    root = tmp_path_factory.mktemp("models")
    cfg = TrainConfig(n=200, epochs=2, blocks=3, hidden=8, eval_samples=2)
    model, hist = cached_model(root, cfg, progress=False)
    return root, cfg, model, hist


@pytest.mark.parametrize("damage", ["truncate model.pt", "garbage model.pt",
                                    "truncate train.json"])
def test_a_damaged_model_is_named_and_retrained_to_the_same_weights(damage, tiny_model,
                                                                   tmp_path, capsys):
    import shutil

    import torch

    root, cfg, model, hist = tiny_model
    work = tmp_path / "copy"
    shutil.copytree(root, work)
    (folder,) = (work / "cache").glob("model-*")
    action, name = damage.split()
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 3] if action == "truncate" else b"junk")
    capsys.readouterr()
    model2, hist2 = cached_model(work, cfg, progress=False)
    err = capsys.readouterr().err
    assert str(folder) in err and "retraining" in err
    a, b = model.state_dict(), model2.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    timeless = [{k: v for k, v in h.items() if k != "train_time_s"} for h in (hist, hist2)]
    assert timeless[0] == timeless[1]
    # and the healed copy now loads without retraining
    cached_model(work, cfg, progress=False)
    assert capsys.readouterr().err == ""


def test_claim_waits_for_the_owner_and_reuses_its_stage(tmp_path):
    calls, started = [], threading.Event()

    def slow(folder):
        started.set()
        time.sleep(0.6)
        calls.append(1)
        return {"v": 1}

    results = []
    t = threading.Thread(target=lambda: results.append(stage(tmp_path, "s", {}, slow)))
    t.start()
    started.wait(5)
    res, _, fresh = stage(tmp_path, "s", {}, slow)  # finds the claim, waits, reuses
    t.join()
    assert len(calls) == 1 and not fresh and res["v"] == 1 and results[0][2]


def test_a_stale_lock_is_removed_and_a_live_one_is_respected(tmp_path, capsys):
    lock = tmp_path / "entry.lock"
    lock.write_text(json.dumps({"host": HOST, "pid": _dead_pid(),
                                "start": None}))
    with claim(lock, lambda: False, "entry") as mine:
        assert mine and json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists() and "stale lock" in capsys.readouterr().err
    # control: a lock held by a live process (pid 1) on this host is waited for, not removed
    lock.write_text(json.dumps({"host": HOST, "pid": 1, "start": None}))
    done = threading.Timer(0.5, lambda: (tmp_path / "entry").write_text("x"))
    done.start()
    with claim(lock, (tmp_path / "entry").exists, "entry") as mine:
        assert mine is False  # the other run finished it
    assert lock.exists() and "waiting for entry" in capsys.readouterr().err


def test_process_alive_uses_the_start_time_against_reused_pids():
    assert process_alive(os.getpid()) and not process_alive(_dead_pid())
    assert not process_alive(os.getpid(), start="not-my-start-time") or not Path(
        "/proc/self/stat").exists()


def test_clean_stale_removes_only_what_ended_runs_left(tmp_path):

    dead, host = _dead_pid(), "".join(c if c.isalnum() else "_" for c in HOST)
    left = [tmp_path / f".derive-abc.tmp-{host}-{dead}",
            tmp_path / "sub" / f".result.json.{host}-{dead}-x1y2.tmp"]
    kept = [tmp_path / f".flows-abc.tmp-{tmp_tag()}",  # ours, in use
            tmp_path / f".robustness-abc.tmp-{host}-1",  # a live process
            tmp_path / f".rademacher-abc.tmp-otherhost-{dead}",  # another machine's
            tmp_path / "derive-abc"]  # a complete stage
    for p in left + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.mkdir() if "json" not in p.name else p.write_text("{"))
    assert sorted(clean_stale(tmp_path)) == sorted(left)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in left)


def _claimed_stage(root, q):
    calls = []

    def compute(folder):
        calls.append(os.getpid())
        time.sleep(0.5)
        return {"pid": os.getpid()}

    res, _, fresh = stage(Path(root), "shared", {"x": 1}, compute)
    q.put((fresh, res["pid"], len(calls)))


def test_two_processes_on_one_cache_compute_a_stage_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claimed_stage, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    out = [q.get(timeout=1800) for _ in procs]  # a hang catcher, generous under load
    for p in procs:
        p.join(30)
    assert sorted(f for f, _, _ in out) == [False, True]  # one computed, one reused
    assert len({pid for _, pid, _ in out}) == 1  # the same result
    assert not list(tmp_path.glob("*.lock")) and not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("edit", ["a number", "a verdict", "an empty result"])
def test_a_hand_edited_stage_result_is_named_and_recomputed(edit, tmp_path, capsys):
    """result.json is under its own seal: an edited number, 'inconclusive' -> 'holds', or a
    result replaced by {"result": {}} (which failed every rerun with KeyError) is recomputed."""
    calls = []

    def compute(folder):
        calls.append(1)
        (folder / "t.csv").write_text("a\n1\n")
        return {"value": 1.5, "status": "inconclusive"}

    _, folder, _ = stage(tmp_path, "demo", {"k": 1}, compute)
    path = folder / "result.json"
    doc = json.loads(path.read_text())
    if edit == "a number":
        doc["result"]["value"] = 2.5
    elif edit == "a verdict":
        doc["result"]["status"] = "holds"
    else:
        doc = {"result": {}}
    path.write_text(json.dumps(doc))
    capsys.readouterr()
    res, _, fresh = stage(tmp_path, "demo", {"k": 1}, compute)
    assert fresh and len(calls) == 2 and res["value"] == 1.5 and res["status"] == "inconclusive"
    err = capsys.readouterr().err
    assert str(path) in err and ("seal" in err or "no result" in err)
    # control: the healed entry is reused silently
    assert not stage(tmp_path, "demo", {"k": 1}, compute)[2] and capsys.readouterr().err == ""


def test_a_json_result_computed_from_a_changed_file_is_recomputed(tmp_path, capsys):
    """cached_json seals the hashes of the files it used: an edited per-run number, or a model
    file changed after the result was computed from it, makes it recompute."""
    used = tmp_path / "model.pt"
    used.write_bytes(b"weights v1")
    calls = []

    def compute():
        calls.append(1)
        return {"R": 0.25}

    assert cached_json(tmp_path, "run", {"a": 1}, compute, uses={"the model": used}) == {"R": 0.25}
    assert cached_json(tmp_path, "run", {"a": 1}, compute, uses={"the model": used}) and \
        len(calls) == 1  # control: nothing changed, nothing recomputed
    (path,) = (tmp_path / "cache").glob("run-*.json")
    doc = json.loads(path.read_text())
    doc["result"]["R"] = 0.75
    path.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cached_json(tmp_path, "run", {"a": 1}, compute, uses={"the model": used}) == \
        {"R": 0.25} and len(calls) == 2
    assert "differs from its seal" in capsys.readouterr().err
    used.write_bytes(b"weights v2")
    assert cached_json(tmp_path, "run", {"a": 1}, compute, uses={"the model": used}) and \
        len(calls) == 3
    assert f"the model {used}, which has changed" in capsys.readouterr().err


def test_a_loadable_model_with_scaled_weights_is_retrained(tiny_model, tmp_path, capsys):
    """A model.pt that still loads, its weights multiplied by 3, was used silently: its hash
    no longer matches train.json, so it is named and retrained to the trained weights."""
    import io
    import shutil

    import torch

    from validation.nets.train import load_model

    root, cfg, model, _ = tiny_model
    work = tmp_path / "copy"
    shutil.copytree(root, work)
    (folder,) = (work / "cache").glob("model-*")
    doc = json.loads((folder / "train.json").read_text())
    scaled, _ = load_model(folder / "model.pt")
    with torch.no_grad():
        for p in scaled.parameters():
            p.mul_(3)
    buf = io.BytesIO()
    torch.save({"state": scaled.state_dict(), "model": scaled.config(),
                "train": doc["config"]}, buf)
    (folder / "model.pt").write_bytes(buf.getvalue())
    assert load_model(folder / "model.pt")[0] is not None  # it loads: only the hash can tell
    capsys.readouterr()
    model2, _ = cached_model(work, cfg, progress=False)
    err = capsys.readouterr().err
    assert "differs from the hash" in err and "retraining" in err
    a, b = model.state_dict(), model2.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_names_the_destination_and_its_free_space_not_the_source(tmp_path):
    """A real ENOSPC (/dev/full): the copy's error names the destination and the free space
    (CPython's own names neither, or the source: a good cache file). The control: a missing
    source is still named as the source."""
    import errno

    from validation.store.io import copy_file

    src = tmp_path / "cached.png"
    src.write_bytes(b"x" * 4096)
    with pytest.raises(OSError) as exc:
        copy_file(src, "/dev/full")
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == "/dev/full"
    assert "MB free there" in str(exc.value) and str(src) not in str(exc.value)
    with pytest.raises(OSError) as exc:
        copy_file(tmp_path / "nosuch.png", tmp_path / "out" / "a.png")
    assert exc.value.filename == str(tmp_path / "nosuch.png")


def test_an_atomic_write_on_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path,
                                                                              monkeypatch):
    import errno
    import os

    from validation.store import io

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as exc:
        io.atomic_write_bytes(tmp_path / "result.json", b"{}")
    assert exc.value.filename == str(tmp_path / "result.json")
    assert "MB free there" in str(exc.value)
    assert not list(tmp_path.iterdir())
