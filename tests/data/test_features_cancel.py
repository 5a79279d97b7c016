"""Cancel stops the features stage within a second, and the counts it reports equal the files on disk."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from kwtui.core import events as ev
from kwtui.core.errors import Cancelled
from kwtui.core.preset import from_dict
from kwtui.core.stages.features import run_features
from tests.helpers.data import demo_preset_data


def test_cancel_stops_within_a_second_and_counts_match_the_disk(demo_dataset: Path, tmp_path: Path):
    preset = from_dict(demo_preset_data(demo_dataset, tmp_path / "run", features={"workers": 2, "variants": 12}))
    cancel = ev.CancelToken()
    requested: list[float] = []

    def report(event):
        if isinstance(event, ev.Progress) and event.unit == "files" and (event.done or 0) > 300 and not requested:
            requested.append(time.monotonic())
            threading.Thread(target=cancel.cancel).start()

    with pytest.raises(Cancelled) as info:
        run_features(preset, report, cancel)
    stopped = time.monotonic() - requested[0]
    on_disk = len(list(preset.features_path.rglob("*.npy")))
    done = int(re.search(r"(\d+) of (\d+) files done", str(info.value)).group(1))
    print(f"cancel -> stopped in {stopped:.2f} s; {done} reported, {on_disk} on disk")
    assert stopped < 1.0
    assert done == on_disk
