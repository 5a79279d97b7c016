"""README screenshots from a real wizard run (real stages) on the cached espeak-ng demo dataset.

Run: .venv/bin/python -m tests.tui.make_screenshots  (about a minute; writes docs/screenshots/*.svg)
The run happens in a temp folder where data/demo links to the dataset, so the screens show relative paths.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from kwtui.core.preset import load_preset, shipped_presets_dir
from kwtui.tui.app import create_app
from tests.helpers.data import make_cached_demo_dataset
from tests.tui.pilot_utils import press_button, type_into, wait_stage, wait_until

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = (120, 40)  # the size the README promises readable


async def capture(presets_dir: Path) -> None:
    preset = load_preset(shipped_presets_dir() / "commands.toml", ["train.epochs=40", "features.variants=2"])
    app = create_app(
        preset, preset_path=shipped_presets_dir() / "commands.toml", presets_dir=presets_dir, port_lister=lambda: []
    )

    def shot(name: str) -> None:
        app.save_screenshot(f"{name}.svg", str(OUT))

    async with app.run_test(size=SIZE) as pilot:
        await wait_stage(pilot, None, "scan", 60)
        shot("1-dataset")
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.steps[1].plan is not None and not app.task_running("plan"), 30)
        await pilot.pause(0.3)
        shot("2-classes")
        await pilot.press("ctrl+n")
        await press_button(pilot, "features-start")
        await wait_stage(pilot, None, "features", 300)
        shot("3-features")
        await pilot.press("ctrl+n")
        await press_button(pilot, "train-start")
        await wait_stage(pilot, None, "train", 600)
        shot("4-training")
        await pilot.press("ctrl+n")
        await press_button(pilot, "evaluate-start")
        await wait_until(pilot, lambda: not app.steps[4].running, 600)
        shot("5-evaluate")
        await pilot.press("ctrl+n")
        await type_into(pilot, "baud", "921600")
        await press_button(pilot, "flash-dry-run")
        await wait_stage(pilot, None, "flash", 60)
        shot("6-flash")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    dataset = make_cached_demo_dataset()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Path("data").mkdir()
        Path("data/demo").symlink_to(dataset)
        os.environ["KWTUI_FAKE_FREE_BYTES"] = str(120 * 1024**3)
        asyncio.run(capture(Path(tmp) / "presets"))
    print(f"wrote {sorted(p.name for p in OUT.glob('*.svg'))}")


if __name__ == "__main__":
    main()
