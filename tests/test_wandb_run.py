"""The module and run surface as W&B documents it: ``init``'s keywords, ``config``,
``log``/``summary``/history, ``finish``, reinit/resume/modes, and the module-level names
that real scripts call (``wandb.config``, ``wandb.log``, ``wandb.login``...)."""

import argparse
import json
import math
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import artfs as wandb
from artfs.errors import ArtfsError, ConfigError, NotFound, UsageError
from artfs.store import runs as runs_mod
from artfs.store.store import Store


@pytest.fixture(autouse=True)
def no_live_runs(store_dir, tmp_path, monkeypatch):
    """Every test starts with no active run, in its own directory, without WANDB_*."""
    for key in list(os.environ):
        if key.startswith("WANDB_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield
    wandb.teardown()


def run_script(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- init's keywords ---------------------------------------------------------------------


def test_init_records_wandb_fields_and_runs_show_them(cli):
    run = wandb.init(
        project="mnist",
        entity="team",
        name="baseline",
        job_type="train",
        group="cv-fold",
        tags=["baseline", "fast"],
        notes="first try",
        config={"lr": 0.01},
    )
    assert (run.project, run.entity, run.name, run.job_type, run.group) == (
        "mnist",
        "team",
        "baseline",
        "train",
        "cv-fold",
    )
    assert run.tags == ("baseline", "fast") and run.notes == "first try"
    assert run.path == f"team/mnist/{run.id}" and run.offline is False
    assert os.path.isdir(run.dir) and run.start_time <= run.start + 1
    run.finish()
    shown = cli("runs", "show", run.id)
    assert shown.code == 0, shown.err
    for text in ("team/mnist", "cv-fold", "baseline, fast", "first try", "lr = 0.01"):
        assert text in shown.out
    record = json.loads(cli("runs", "show", "--json", run.id).out)
    assert (record["project"], record["entity"], record["group"], record["notes"]) == (
        "mnist",
        "team",
        "cv-fold",
        "first try",
    )
    assert record["tags"] == ["baseline", "fast"] and record["config"] == {"lr": 0.01}


@pytest.mark.fast
def test_init_with_a_chosen_id_and_the_environment(monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    monkeypatch.setenv("WANDB_TAGS", "a,b")
    run = wandb.init(id="my-run-1", settings=wandb.Settings(run_group="g"))
    assert (run.id, run.project, run.group, run.tags) == ("my-run-1", "from-env", "g", ("a", "b"))
    run.finish()
    explicit = wandb.init(
        project="explicit", settings={"project": "settings"}, reinit="finish_previous"
    )
    assert explicit.project == "explicit"  # an argument wins over settings and env
    explicit.finish()
    with pytest.raises(UsageError):  # W&B forbids '/' in run ids
        wandb.init(id="a/b")
    with pytest.raises(UsageError):
        wandb.init(mode="sometimes")


@pytest.mark.fast
def test_project_defaults_to_uncategorized_as_in_wandb():
    with wandb.init() as run:
        assert run.project == "uncategorized"


# --- config -------------------------------------------------------------------------------


@pytest.mark.fast
def test_config_from_dict_namespace_and_absl_flags():
    args = argparse.Namespace(epochs=3, batch_size=32)

    class Flags:  # what absl.flags.FLAGS offers
        def flag_values_dict(self):
            return {"model": "resnet", "depth": 50}

    run = wandb.init(config=args)
    run.config.update(Flags())
    run.config.update({"--dropout": 0.5})  # W&B strips the dashes of flag names
    assert run.config.epochs == 3 and run.config["batch_size"] == 32
    assert wandb.config.model == "resnet" and wandb.config["depth"] == 50
    assert run.config.dropout == 0.5 and "dropout" in run.config
    assert sorted(run.config.keys()) == ["batch_size", "depth", "dropout", "epochs", "model"]
    assert dict(run.config.items())["epochs"] == 3 and run.config.get("nope", 7) == 7
    run.finish()
    assert wandb.Api().run(run.id).config == {
        "epochs": 3,
        "batch_size": 32,
        "model": "resnet",
        "depth": 50,
        "dropout": 0.5,
    }


@pytest.mark.fast
def test_config_changes_are_saved_and_a_changed_value_needs_allow_val_change():
    run = wandb.init(config={"lr": 0.1}, config_exclude_keys=None)
    run.config.momentum = 0.9
    wandb.config["layers"] = [64, 64]
    run.config.setdefaults({"lr": 0.5, "seed": 1})  # lr is set: kept
    assert run.config.as_dict() == {"lr": 0.1, "momentum": 0.9, "layers": [64, 64], "seed": 1}
    with pytest.raises(ConfigError):
        run.config.lr = 0.2
    with pytest.raises(wandb.Error):  # ConfigError is a wandb.Error, as in W&B
        run.config.update({"lr": 0.3})
    run.config.update({"lr": 0.3}, allow_val_change=True)
    saved = runs_mod.get_run(Store.open(), run.id)["config"]
    assert saved == {"lr": 0.3, "momentum": 0.9, "layers": [64, 64], "seed": 1}
    with pytest.raises(UsageError):  # the store refuses NaN; nothing changes
        run.config.update({"bad": float("nan")})
    assert "bad" not in run.config and "bad" not in runs_mod.get_run(Store.open(), run.id)["config"]
    run.finish()


@pytest.mark.fast
def test_config_include_and_exclude_keys():
    with wandb.init(config={"a": 1, "b": 2, "c": 3}, config_exclude_keys=["b"]) as run:
        assert run.config.as_dict() == {"a": 1, "c": 3}
    with wandb.init(config={"a": 1, "b": 2}, config_include_keys=["b"]) as run:
        assert run.config.as_dict() == {"b": 2}


@pytest.mark.fast
def test_module_config_summary_and_log_need_init_as_in_wandb():
    assert wandb.run is None
    with pytest.raises(wandb.Error, match="wandb.init"):
        wandb.config["lr"]
    with pytest.raises(wandb.Error, match="wandb.init"):
        wandb.config.lr = 1
    with pytest.raises(wandb.Error, match="wandb.init"):
        wandb.summary["acc"] = 1
    with pytest.raises(wandb.Error, match=r"wandb.init\(\) before wandb.log"):
        wandb.log({"acc": 1})
    run = wandb.init(config={"lr": 1})
    assert wandb.config is run.config and wandb.summary is run.summary
    wandb.finish()
    with pytest.raises(ArtfsError):  # after finish W&B resets them too
        print(wandb.config.lr)


# --- log, history and summary -----------------------------------------------------------


@pytest.mark.fast
def test_log_makes_history_rows_and_summary_holds_last_values():
    run = wandb.init()
    for i in range(3):
        wandb.log({"loss": 1.0 / (i + 1), "epoch": i})
    run.summary["best_loss"] = 0.25
    run.finish()
    api_run = wandb.Api().run(run.id)
    rows = api_run.history(pandas=False)
    assert [(r["_step"], r["loss"], r["epoch"]) for r in rows] == [
        (0, 1.0, 0),
        (1, 0.5, 1),
        (2, 1.0 / 3, 2),
    ]
    assert all("_runtime" in r and "_timestamp" in r for r in rows)
    assert api_run.summary["loss"] == 1.0 / 3 and api_run.summary.epoch == 2
    assert api_run.summary["best_loss"] == 0.25 and api_run.summary["_step"] == 2


@pytest.mark.fast
def test_step_and_commit_follow_wandb():
    run = wandb.init()
    run.log({"a": 1}, commit=False)
    run.log({"b": 2})  # commits the step holding both
    run.log({"c": 3}, step=5)  # with step, commit defaults to False
    run.log({"d": 4}, step=5)
    run.log({"e": 5}, step=6)  # a later step commits step 5
    with pytest.warns(UserWarning, match="steps only go forward"):
        run.log({"old": 0}, step=2)  # W&B ignores data for an earlier step
    assert run.step == 6
    run.finish()  # commits step 6
    rows = [
        {k: v for k, v in r.items() if not k.startswith("_") or k == "_step"}
        for r in wandb.Api().run(run.id).history(pandas=False)
    ]
    assert rows == [
        {"a": 1, "b": 2, "_step": 0},
        {"c": 3, "d": 4, "_step": 5},
        {"e": 5, "_step": 6},
    ]


@pytest.mark.fast
def test_log_from_several_threads_loses_no_row():
    with wandb.init() as run:

        def worker(n):
            for i in range(200):
                run.log({"worker": n, "i": i})

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rows = list(wandb.Api().run(run.id).scan_history())
    assert [r["_step"] for r in rows] == list(range(800))
    assert sorted((r["worker"], r["i"]) for r in rows) == [
        (n, i) for n in range(4) for i in range(200)
    ]


@pytest.mark.fast
def test_scan_history_keys_and_step_range():
    with wandb.init() as run:
        for i in range(6):
            run.log({"loss": i, **({"val": -i} if i % 2 else {})})
    api_run = wandb.Api().run(run.id)
    assert [r["loss"] for r in api_run.scan_history()] == [0, 1, 2, 3, 4, 5]
    assert list(api_run.scan_history(keys=["val"])) == [{"val": -1}, {"val": -3}, {"val": -5}]
    assert [r["_step"] for r in api_run.scan_history(min_step=2, max_step=4)] == [2, 3]
    assert api_run.history(keys=["val"], pandas=False) == [
        {"_step": 1, "val": -1},
        {"_step": 3, "val": -3},
        {"_step": 5, "val": -5},
    ]
    assert len(api_run.history(samples=2, pandas=False)) == 2
    with pytest.raises(ValueError):
        list(api_run.scan_history(keys="loss"))


@pytest.mark.fast
def test_log_takes_a_dict_and_keeps_nan():
    with wandb.init() as run:
        with pytest.raises(ValueError):
            run.log([1, 2])
        with pytest.raises(ValueError):
            run.log({1: 2})
        run.log({"loss": float("nan"), "nested": {"x": 1}, "t": (1, 2)})
    row = wandb.Api().run(run.id).history(pandas=False)[0]
    assert math.isnan(row["loss"]) and row["nested"] == {"x": 1} and row["t"] == [1, 2]
    assert math.isnan(wandb.Api().run(run.id).summary["loss"])


@pytest.mark.fast
def test_summary_update_and_attribute_access_are_saved():
    run = wandb.init()
    run.log({"acc": 0.5})
    run.summary.update({"acc": 0.99, "f1": 0.7})
    run.summary.test_acc = 0.8
    assert run.summary.acc == 0.99 and run.summary["test_acc"] == 0.8
    assert set(run.summary.keys()) >= {"acc", "f1", "test_acc"}
    run.log({"acc": 0.6})  # a later log wins, as in W&B
    run.finish()
    summary = wandb.Api().run(run.id).summary
    assert (summary["acc"], summary["f1"], summary["test_acc"]) == (0.6, 0.7, 0.8)
    assert summary.get("missing") is None


@pytest.mark.fast
def test_define_metric_summaries():
    with wandb.init() as run:
        run.define_metric("acc", summary="max")
        run.define_metric("loss", summary="min,mean")
        run.define_metric("debug/*", summary="none")
        for acc, loss in ((0.5, 3.0), (0.9, 1.0), (0.7, 2.0)):
            run.log({"acc": acc, "loss": loss, "debug/x": 1})
        with pytest.raises(ValueError):
            run.define_metric("x", summary="median")
    summary = wandb.Api().run(run.id).summary
    assert summary["acc"] == {"max": 0.9}
    assert summary["loss"] == {"min": 1.0, "mean": 2.0}
    assert "debug/x" not in summary


# --- finishing ---------------------------------------------------------------------------


@pytest.mark.fast
def test_with_block_that_raises_marks_the_run_failed():
    with pytest.raises(RuntimeError), wandb.init() as run:
        run.log({"step_done": 1})
        raise RuntimeError("boom")
    recorded = wandb.Api().run(run.id)
    assert recorded.state == "failed" and recorded.exit_code == 1
    assert recorded.summary["step_done"] == 1  # the metrics logged are kept
    assert wandb.run is None


@pytest.mark.fast
def test_finish_exit_code_and_module_finish():
    run = wandb.init()
    run.finish(exit_code=3)
    assert wandb.Api().run(run.id).state == "failed" and run.exit_code == 3
    second = wandb.init()
    wandb.finish()
    assert second.state == "finished" and wandb.run is None
    with pytest.raises(UsageError):  # a finished run takes no more metrics
        second.log({"x": 1})


def test_uncaught_exception_marks_the_run_failed(tmp_path, store_dir):
    proc = run_script(
        """
        import artfs as wandb
        run = wandb.init(job_type="crashy")
        wandb.log({"x": 1})
        print(run.id, flush=True)
        raise SystemError("died")
    """,
        tmp_path,
    )
    assert proc.returncode == 1
    recorded = wandb.Api().run(proc.stdout.strip())
    assert recorded.state == "failed" and recorded.history(pandas=False)[0]["x"] == 1


def test_a_script_that_never_finishes_is_finished_at_exit(tmp_path, store_dir):
    proc = run_script(
        """
        import artfs as wandb
        run = wandb.init()
        for i in range(3):
            wandb.log({"i": i})
        print(run.id)
    """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    recorded = wandb.Api().run(proc.stdout.strip())
    assert recorded.state == "finished" and [r["i"] for r in recorded.scan_history()] == [0, 1, 2]


# --- reinit, resume, modes ---------------------------------------------------------------


@pytest.mark.fast
def test_reinit_default_returns_the_active_run(capfd):
    first = wandb.init(job_type="a")
    again = wandb.init(job_type="b")
    assert again is first and first.job_type == "a"
    assert "returning it" in capfd.readouterr().err
    fresh = wandb.init(job_type="c", reinit="finish_previous")
    assert fresh is not first and first.state == "finished" and wandb.run is fresh
    side = wandb.init(job_type="d", reinit="create_new")
    assert wandb.run is fresh and side.state == "running"  # create_new leaves wandb.run
    side.finish()
    fresh.finish()
    with wandb.init(job_type="e") as run, wandb.init(reinit=True) as other:
        assert run.state == "finished" and wandb.run is other


@pytest.mark.fast
def test_resume_continues_a_recorded_run():
    with wandb.init(id="resumable", config={"lr": 0.1}) as run:
        run.log({"loss": 1.0})
        run.log({"loss": 0.5})
    with pytest.raises(UsageError):  # resume="never" refuses an existing id
        wandb.init(id="resumable", resume="never")
    with pytest.raises(ArtfsError):  # without resume, the id is taken: nothing replaced
        wandb.init(id="resumable")
    with wandb.init(id="resumable", resume="allow", config={"epochs": 2}) as run:
        assert run.resumed and run.config.lr == 0.1 and run.config.epochs == 2
        assert run.summary["loss"] == 0.5
        run.log({"loss": 0.25})
    recorded = wandb.Api().run("resumable")
    assert [r["_step"] for r in recorded.scan_history()] == [0, 1, 2]
    assert recorded.state == "finished" and recorded.summary["loss"] == 0.25
    with pytest.raises(UsageError):
        wandb.init(id="never-was", resume="must")
    with wandb.init(id="new-one", resume="allow") as run:  # allow: a new run if none
        assert run.id == "new-one" and not run.resumed


def test_resume_auto_picks_up_a_crashed_run(tmp_path, store_dir):
    script = """
        import os, artfs as wandb
        run = wandb.init(resume="auto")
        wandb.log({"pid": os.getpid()})
        print(run.id, run.resumed, flush=True)
        if not run.resumed:
            os._exit(9)  # a crash: the run stays recorded as running
    """
    first = run_script(script, tmp_path)
    second = run_script(script, tmp_path)
    run_id, resumed = second.stdout.split()
    assert first.stdout.split()[0] == run_id and resumed == "True"
    assert wandb.Api().run(run_id).state == "finished"


@pytest.mark.fast
def test_mode_disabled_records_nothing(store_dir):
    run = wandb.init(mode="disabled", project="p", config={"lr": 1})
    assert wandb.run is run and run.disabled and run.config.lr == 1
    wandb.log({"acc": 1})
    assert run.summary["acc"] == 1
    assert run.use_artifact("anything:latest") is None  # W&B's no-op run returns None
    run.finish()
    assert wandb.run is None
    assert not os.path.exists(store_dir) or runs_mod.list_runs(Store.open(store_dir)) == []


@pytest.mark.fast
def test_wandb_mode_environment_disables(monkeypatch, store_dir):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with wandb.init() as run:
        assert run.disabled and run.project == "dummy"
    assert not os.path.exists(store_dir) or runs_mod.list_runs(Store.open(store_dir)) == []


@pytest.mark.fast
def test_mode_offline_is_recorded_locally():
    with wandb.init(mode="offline") as run:
        run.log({"x": 1})
        assert run.offline
    assert wandb.Api().run(run.id).summary["x"] == 1


# --- run properties and other module calls -----------------------------------------------


@pytest.mark.fast
def test_run_name_tags_and_notes_can_be_changed():
    run = wandb.init(name="before", tags=["a"])
    run.name = "after"
    run.tags += ("b",)
    run.notes = "changed"
    run.finish()
    recorded = wandb.Api().run(run.id)
    assert (recorded.name, recorded.tags, recorded.notes) == ("after", ("a", "b"), "changed")


@pytest.mark.fast
def test_public_run_update_saves_config_changes():
    with wandb.init(config={"a": 1}) as run:
        pass
    recorded = wandb.Api().run(run.id)
    recorded.config["b"] = 2
    recorded.update()
    assert wandb.Api().run(run.id).config == {"a": 1, "b": 2}


@pytest.mark.fast
def test_login_require_and_settings():
    assert wandb.login() is True and wandb.login(key="x", relogin=True) is True
    assert wandb.require("core") is None
    settings = wandb.Settings(project="from-settings", silent=True)
    assert settings.silent is True
    with wandb.init(settings=settings) as run:
        assert run.project == "from-settings"


@pytest.mark.fast
def test_save_keeps_files_with_the_run(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"weights")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.txt").write_text("log")
    with wandb.init() as run:
        saved = wandb.save("model.pt")
        saved += run.save("logs/*.txt", base_path=str(tmp_path))
        assert [os.path.relpath(p, run.dir) for p in saved] == ["model.pt", "logs/a.txt"]
        with open(saved[0], "rb") as f:
            assert f.read() == b"weights"
        with pytest.raises(FileNotFoundError):
            run.save("missing.bin")
    assert runs_mod.get_run(Store.open(), run.id)["files"] == ["logs/a.txt", "model.pt"]


@pytest.mark.fast
def test_alert_watch_and_log_code(tmp_path, capfd):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "notes.txt").write_text("not code")
    with wandb.init(project="p") as run:
        run.alert(title="low acc", text="acc below 0.5", level=wandb.AlertLevel.WARN)
        with pytest.warns(UserWarning, match="watch"):
            wandb.watch(object())
        code = run.log_code(".")
    assert "alert [WARN] low acc: acc below 0.5" in capfd.readouterr().err
    alerts = runs_mod.get_run(Store.open(), run.id)["alerts"]
    assert [(a["title"], a["level"]) for a in alerts] == [("low acc", "WARN")]
    assert code.type == "code" and code.get_entry("train.py").size == len("print('hi')\n")
    with pytest.raises(NotFound):  # only source files are logged
        code.get_entry("notes.txt")


@pytest.mark.fast
def test_cloud_only_calls_raise_clearly():
    with pytest.raises(UsageError, match="parameters"):
        wandb.sweep({"method": "grid"})
    with pytest.raises(UsageError):
        wandb.restore("model.h5")
    with pytest.raises(UsageError, match="resume_from"):
        wandb.init(resume_from="abc?_step=3")


# --- sweeps, run by the agent in this process --------------------------------------------


@pytest.mark.fast
def test_grid_sweep_runs_every_combination_as_runs():
    sweep_id = wandb.sweep(
        {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {
                "lr": {"values": [0.1, 0.01]},
                "layers": {"values": [1, 2]},
                "opt": {"value": "adam"},
            },
        },
        project="sweepy",
    )
    seen = []

    def train():
        with wandb.init(config={"lr": 5.0, "epochs": 3}) as run:  # the sweep's lr wins
            seen.append((run.config.lr, run.config.layers, run.config.opt, run.config.epochs))
            run.log({"loss": run.config.lr * run.config.layers})

    wandb.agent(sweep_id, function=train)
    assert sorted(seen) == sorted((lr, n, "adam", 3) for lr in (0.1, 0.01) for n in (1, 2))
    runs = [r for r in wandb.Api().runs() if r.sweep_id == sweep_id]
    assert len(runs) == 4 and {r.project for r in runs} == {"sweepy"}
    assert all(r.state == "finished" for r in runs)


@pytest.mark.fast
def test_random_sweep_samples_within_bounds_and_a_failing_trial_fails_its_run():
    sweep_id = wandb.sweep(
        {
            "method": "random",
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "batch": {"values": [16, 32]},
                "depth": {"min": 2, "max": 4},
            },
        }
    )
    calls = []

    def train():
        wandb.init()
        calls.append(dict(wandb.config.items()))
        if len(calls) == 2:
            raise RuntimeError("diverged")

    wandb.agent(sweep_id, function=train, count=3)
    assert len(calls) == 3
    for c in calls:
        assert 1e-4 <= c["lr"] <= 1e-1 and c["batch"] in (16, 32) and 2 <= c["depth"] <= 4
        assert isinstance(c["depth"], int)
    states = [r.state for r in wandb.Api().runs() if r.sweep_id == sweep_id]
    assert states == ["finished", "failed", "finished"]
    with pytest.raises(UsageError, match="count"):
        wandb.agent(sweep_id, function=train)  # a random sweep has no end
    with pytest.raises(UsageError):
        wandb.agent("not-a-sweep", function=train, count=1)
    with pytest.raises(UsageError):
        wandb.sweep({"method": "grid", "parameters": {"lr": {"min": 0, "max": 1}}})


@pytest.mark.fast
def test_config_defaults_yaml_is_loaded_when_pyyaml_is_installed(tmp_path):
    (tmp_path / "config-defaults.yaml").write_text("epochs:\n  value: 5\nlr:\n  value: 0.1\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="pyyaml"):
            wandb.init()
        assert wandb.run is None
        return
    with wandb.init(config={"lr": 0.5}) as run:
        assert run.config.as_dict() == {"epochs": 5, "lr": 0.5}
