"""The wizard never shows or uses results of another configuration (real records, real stages).

After training, adding a keyword in the Classes step makes Features, Training and Evaluate out of date in the
step bar; the old report is not shown; Evaluate refuses the old model with one line naming the classes; and
training again makes exactly the stale stages fresh.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from kwtui.core.io import records
from kwtui.core.io.layout import RunLayout
from kwtui.core.preset import from_dict
from kwtui.tui.app import create_app
from kwtui.tui.widgets.stepbar import StepBar
from tests.tui.pilot_utils import wait_stage

FEATURES, TRAINING, EVALUATE = 2, 3, 4


def test_changed_classes_mark_later_steps_out_of_date_and_evaluate_refuses(trained_run, tmp_path: Path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )
    status = records.status(RunLayout(preset))
    assert all(s.done for s in status.values()), status

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            bar = app.query_one(StepBar)
            await pilot.pause()
            assert {FEATURES, TRAINING, EVALUATE} <= bar.done

            app.form.set("classes.keywords", ["yes", "no", "left"])  # what the Classes step does on Space
            app.apply_preset(app.form.to_preset())
            app.go_to(EVALUATE)
            await pilot.pause()
            assert {FEATURES, TRAINING, EVALUATE} <= bar.stale and not bar.done & {FEATURES, TRAINING, EVALUATE}
            shown = str(app.query_one("#threshold-choice").render())
            assert "out of date" in shown and "classes" in shown
            assert app.query_one("#confusion").row_count == 0  # the old 4-class table is gone
            # a step that cannot go on names its start button as the button reads
            assert app.steps[FEATURES].ready_for_next().endswith("press Re-run."), app.steps[FEATURES].ready_for_next()
            assert app.steps[TRAINING].ready_for_next().endswith("press Start."), app.steps[TRAINING].ready_for_next()

            await pilot.press("ctrl+r")  # Evaluate + convert with the old model
            await wait_stage(pilot, None, "evaluate", 120)
            status = str(app.query_one("#evaluate-status").render())
            assert "was made for classes [yes, no, _unknown, _background]" in status, status
            assert "left" in status

            app.form.set("classes.keywords", ["yes", "no"])  # back to what was trained: fresh again
            app.apply_preset(app.form.to_preset())
            await pilot.pause()
            assert {FEATURES, TRAINING, EVALUATE} <= bar.done

    asyncio.run(scenario())


def test_a_reopened_wizard_shows_the_training_the_run_folder_holds(trained_run, tmp_path: Path):
    """Features showed a checkmark over a bar at 0 %, Training one over empty charts: entering Features fills the bar
    and counts the files; entering Training draws history.csv's epochs and says how many are done, the best one,
    and what Start and Resume would do with them."""
    import csv

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )
    rows = list(csv.DictReader((run / "history.csv").open()))
    best = [r for r in rows if r["best"] == "1"][-1]  # the epoch training kept

    async def scenario() -> tuple[str, int, str, float]:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            assert {0, 1, FEATURES, TRAINING} <= app.query_one(StepBar).done  # the first two steps too
            app.go_to(FEATURES)
            await pilot.pause(0.3)
            features_status = str(app.query_one("#features-status").render())
            bar = app.query_one("#features-progress").percentage
            app.go_to(TRAINING)
            await pilot.pause(0.3)
            plot = app.query_one("#acc-plot")
            return str(app.query_one("#train-status").render()), len(plot.series["val"].points), features_status, bar

    status, points, features_status, bar = asyncio.run(scenario())
    assert "made earlier:" in features_status and bar == 1.0, (features_status, bar)  # was ✓ over a bar at 0 %
    assert f"trained earlier: {rows[-1]['epoch']} epochs, best epoch {best['epoch']}" in status, status
    assert "model_best.previous.keras" in status and f"Resume: on after epoch {rows[-1]['epoch']}" in status
    assert points == len(rows)


def test_resume_past_the_epochs_asked_says_there_is_nothing_to_train(trained_run, tmp_path: Path):
    """Resume with train.epochs at the epochs done says there is nothing to train; below them it is refused."""
    from kwtui.core import events as ev
    from kwtui.core.stages.train import run_train

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    data = trained_run.to_dict()
    data.update(run_dir=str(run))
    data["features"]["output"] = ""
    preset = from_dict(data)
    warnings: list[str] = []
    run_train(
        preset,
        lambda e: warnings.append(e.message) if isinstance(e, ev.StageWarning) else None,
        ev.CancelToken(),
        resume=True,
    )
    assert any("nothing to train; raise train.epochs above" in w for w in warnings), warnings

    # fewer epochs than trained: refused before anything changes (it rewrote the record for the fewer epochs, so
    # the wizard showed ✓ and a replay of the preset would train another model)
    import pytest

    from kwtui.core.errors import UserError
    from kwtui.tui.hints import in_wizard

    record = (run / "train.json").read_bytes()
    done = preset.train.epochs
    data["train"]["epochs"] = done - 1
    with pytest.raises(UserError) as refused:
        run_train(from_dict(data), lambda e: None, ev.CancelToken(), resume=True)
    said = in_wizard(str(refused.value))
    assert f"train.epochs = {done - 1}, but the saved model has trained {done}: set train.epochs = {done}" in said
    assert "resume to finish it" in said and "press Start (not Resume) to start over" in said
    assert len(said) < 3 * 76, said  # whole in the status's 3 rows at 80 columns
    assert (run / "train.json").read_bytes() == record
    # and Start's question says Resume cannot go on (it offered "Resume continues instead")
    from kwtui.tui.steps.training import TrainingStep

    question = TrainingStep().start_over_question(from_dict(data))
    assert question and f"Resume cannot go on: train.epochs is {done - 1}, fewer than those {done}" in question


def test_start_over_asks_first_and_says_where_the_best_model_is_kept(trained_run, tmp_path: Path):
    """Ctrl+R on Training retrained from scratch at once. It asks now: Enter or Escape keeps the trained run
    untouched, and only the named button starts over."""
    from kwtui.tui.screens.dialogs import Confirm

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )
    best_bytes = RunLayout(preset).best_model.read_bytes()

    async def scenario() -> tuple[str, bool, bool]:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(80, 24)) as pilot:
            app.go_to(TRAINING)
            await pilot.pause(0.3)
            await pilot.press("ctrl+r")
            await pilot.pause(0.2)
            assert isinstance(app.screen, Confirm)
            question = str(app.screen.query_one("#choose-body").render())
            await pilot.press("enter")  # the focused button is Keep
            await pilot.pause(0.2)
            kept = not isinstance(app.screen, Confirm) and not app.task_running("train")
            await pilot.press("ctrl+r")
            await pilot.pause(0.2)
            await pilot.press("escape")
            await pilot.pause(0.2)
            kept = kept and not app.task_running("train")
            await pilot.press("ctrl+r")
            await pilot.pause(0.2)
            app.query_one("#train-progress").update(total=10, progress=10)  # as the last run left it, "100 %"
            await pilot.press("tab", "enter")  # Start over
            await pilot.pause(0.3)
            started = app.task_running("train") or app.stage_status("train") is not None
            shown = app.query_one("#train-progress").percentage  # not the last run's full bar while this one sets up
            assert shown is None or shown < 1.0, shown
            # training from scratch removed train.json as it started: no checkmark says the old run is there (the
            # bar kept ✓ Training ✓ Evaluate until the run ended)
            bar = app.query_one(StepBar)
            for _ in range(150):
                if not {TRAINING, EVALUATE} & bar.done or not app.task_running("train"):
                    break
                await pilot.pause(0.2)
            marks_while_training = set(bar.done)
            app.steps[TRAINING].cancel()
            await wait_stage(pilot, None, "train", 120)
            assert not {TRAINING, EVALUATE} & marks_while_training, marks_while_training
            return question, kept, started

    question, kept, started = asyncio.run(scenario())
    assert "epochs are trained" in question and "model_best.previous.keras" in question, question
    assert kept and started
    previous = run / "model_best.previous.keras"  # the old best is either still in place or kept under this name
    assert RunLayout(preset).best_model.read_bytes() == best_bytes or previous.read_bytes() == best_bytes


def test_features_for_other_classes_ask_before_replacing_a_trained_model(trained_run, tmp_path: Path, monkeypatch):
    """Every wizard session starts in the same run folder: features for other keywords went there and replaced a
    trained model's features (and training, its model) without a word. Now Start asks: Keep (Escape) starts
    nothing, New run folder works in runs/<name>-<keywords> and leaves the trained run as it was."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )
    before = {p: p.read_bytes() for p in (run / "features").glob("*.json")}
    assert before

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            app.form.set("classes.keywords", ["yes", "left"])
            app.apply_preset(app.form.to_preset())
            app.go_to(FEATURES)
            await pilot.pause()
            await pilot.press("ctrl+r")
            await pilot.pause()
            body = str(app.screen.query_one("#choose-body").render())
            assert "holds a model trained for [yes, no, _unknown, _background]" in body, body
            await pilot.press("escape")  # Keep
            await pilot.pause()
            assert not app.task_running("features")
            await pilot.press("ctrl+r")
            await pilot.pause()
            await pilot.press("tab", "enter")  # New run folder
            await wait_stage(pilot, app.steps[FEATURES], "features", 120)
            assert app.form.get("name") == f"{preset.name}-yes-left" and app.form.get("run_dir") == ""
            assert f'name="{preset.name}-yes-left"' in str(app.query_one("#command").render())

    asyncio.run(scenario())
    new = tmp_path / "runs" / f"{preset.name}-yes-left"
    assert (new / "preset.toml").exists()  # the features stage ran there (the tone store has no clips to read)
    assert {p: p.read_bytes() for p in (run / "features").glob("*.json")} == before  # the trained run untouched


def test_next_refuses_a_step_whose_own_field_is_invalid(trained_run, tmp_path: Path):
    """Ctrl+N went on past "2x" in Features' workers (its features were done), though the Dataset step blocks a bad
    folder: the step stays, and the notification names the field."""
    from tests.tui.pilot_utils import type_into

    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            app.go_to(FEATURES)
            await pilot.pause()
            await type_into(pilot, "workers", "2x")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.step_index == FEATURES
            assert any("features.workers" in str(n.message) for n in app._notifications)
            await type_into(pilot, "workers", "2")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.step_index == TRAINING

    asyncio.run(scenario())


def test_evaluate_is_done_only_while_its_converted_model_is_up_to_date(trained_run, tmp_path: Path):
    """The Evaluate step's mark is its evaluation's and its conversion's: a report up to date beside a converted
    model that is not (a conversion cancelled after training again) showed ✓ Evaluate, and Ctrl+N went on to a
    Flash step that refused the model."""
    run = tmp_path / "run"
    shutil.copytree(trained_run.run_path, run)
    preset = from_dict(
        {**trained_run.to_dict(), "run_dir": str(run), "features": {**trained_run.to_dict()["features"], "output": ""}}
    )
    layout = RunLayout(preset)
    with open(layout.tflite, "ab") as model:
        model.write(b"\0")  # not the model its model.json describes any more
    status = records.status(layout)
    assert status["evaluate"].done and status["convert"].state == "stale", status

    async def scenario() -> None:
        app = create_app(preset, presets_dir=tmp_path / "presets", port_lister=lambda: [])
        async with app.run_test(size=(120, 40)) as pilot:
            bar = app.query_one(StepBar)
            await pilot.pause()
            assert {FEATURES, TRAINING} <= bar.done and EVALUATE in bar.stale and EVALUATE not in bar.done
            app.go_to(EVALUATE)
            await pilot.pause()
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert app.step_index == EVALUATE
            assert app.steps[EVALUATE].ready_for_next().endswith("press Evaluate + convert.")

    asyncio.run(scenario())
