"""Feature generation survives SIGKILL at random points and Ctrl-C: a resumed run is byte-identical.

A dataset of a few hundred clips (copies of espeak clips under Speech-Commands names) gives a run of a
few seconds; kills land at seeded random progress points and times (during the scan, mid-pool, near the
end). After every kill: no partial .npy under a final name. After the last resume: the features folder
is byte-identical to an uninterrupted run's, no temp files, manifests consistent, no worker left running.
"""

from __future__ import annotations

import random
import signal
import threading
import time

import pytest

from tests.helpers.corpus import clip_name, make_clean_dataset, write_preset
from tests.reliability.procs import survivors, temp_files, tree_digest, watch
from tests.reliability.test_bad_inputs import assert_store_consistent

PRESET = """name = "resume"
run_dir = "{run_dir}"
[dataset]
path = "{dataset}"
[classes]
keywords = ["yes", "no"]
unknown_ratio = 0.0
synthesize_negative_speech = false  # kill points are about the feature files (synthesis: test_synthetic_speech)
[features]
workers = 2
variants = 2
"""


def make_copied_dataset(root, per_word: int):
    """A clean dataset of 6 clips per word, then copied to `per_word` clips under new speaker names."""
    make_clean_dataset(root, {"yes": 6, "no": 6, "cat": 6, "tree": 6}, noise_seconds=(20.0, 20.0), lists=False)
    for word in ("yes", "no", "cat", "tree"):
        sources = sorted((root / word).glob("*.wav"))
        for i in range(6, per_word):
            (root / word / clip_name(word, i)).write_bytes(sources[i % len(sources)].read_bytes())
    return root


@pytest.fixture(scope="module")
def resume_dataset(tmp_path_factory):
    return make_copied_dataset(tmp_path_factory.mktemp("resume") / "dataset", per_word=350)


def _preset(tmp_path, name, dataset):
    run_dir = tmp_path / name
    return write_preset(tmp_path / f"{name}.toml", PRESET.format(dataset=dataset, run_dir=run_dir)), run_dir


def _partial_npys(features_dir) -> list[str]:
    """Final-named .npy files that are not complete float32 arrays of the default frontend's shape."""
    from kwtui.core.data.micro_frontend import SHAPE

    bad = []
    for path in features_dir.rglob("*.npy"):
        if path.stat().st_size != 128 + SHAPE[0] * SHAPE[1] * 4:
            bad.append(str(path.relative_to(features_dir)))
    return bad


@pytest.mark.slow
def test_killed_at_random_points_then_resume_is_byte_identical(tmp_path, resume_dataset):
    ref_preset, ref_dir = _preset(tmp_path, "reference", resume_dataset)
    reference = watch(["features", ref_preset], timeout=300)
    assert reference.returncode == 0, reference.stderr
    total = [e for e in reference.events if e["event"] == "finished"][-1]["summary"]["files_total"]
    assert total >= 2000

    preset, run_dir = _preset(tmp_path, "interrupted", resume_dataset)
    features_dir = run_dir / "features"
    rng = random.Random(20261125)
    # one kill by time while still starting up/scanning, then kills at growing random progress points
    targets = sorted(rng.uniform(0.05, 0.8) for _ in range(3))
    kills = [("time", rng.uniform(0.2, 1.0))] + [("progress", int(t * total)) for t in targets]
    # SIGKILL (OOM killer), SIGHUP (the SSH connection drops), SIGTERM (`kill`, `timeout`, systemd)
    signals = [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM, signal.SIGKILL]
    killed = 0
    for (kind, point), sig in zip(kills, signals):
        if kind == "time":
            outcome = watch(["features", preset], after_s=point, after_signal=sig, timeout=300)
        else:
            outcome = watch(
                ["features", preset],
                decide=lambda e, p=point, s=sig: s if e["event"] == "progress" and e["done"] >= p else None,
                timeout=300,
            )
        if outcome.signalled is None or outcome.returncode == 0:  # finished before the kill landed
            assert outcome.returncode == 0, outcome.stderr
            continue
        assert outcome.returncode == -sig, (sig, outcome.returncode, outcome.stderr[-500:])
        killed += 1
        if features_dir.exists():
            assert _partial_npys(features_dir) == [], "a partial .npy survived SIGKILL under its final name"
        leftover = survivors(outcome.children)
        assert leftover == [], f"worker processes outlived the killed parent: {leftover}"

    assert killed >= 3, "most seeded kill points should land before the run ends"
    final = watch(["features", preset], timeout=300)
    assert final.returncode == 0, final.stderr
    summary = [e for e in final.events if e["event"] == "finished"][-1]["summary"]
    assert summary["files_existing"] > 0, "the resumed run redid everything"
    assert temp_files(run_dir) == []
    assert_store_consistent(features_dir)
    got, want = tree_digest(features_dir), tree_digest(ref_dir / "features")
    assert sorted(got) == sorted(want), set(got) ^ set(want)
    different = sorted(k for k in want if got[k] != want[k])
    assert different == [], f"files differ from the uninterrupted run: {different[:10]}"


def test_two_runs_on_one_folder_never_corrupt_it(tmp_path, resume_dataset):
    """Two `kwtui features` on the same run folder at once (two SSH sessions, or the wizard and a CLI run).

    The features folder is locked: when the runs overlap, the later one stops at once with exit 2 saying
    another kwtui is writing there. Either way: no partial or wrong file, and a re-run completes the folder
    byte-identical to a single run.
    """
    ref_preset, ref_dir = _preset(tmp_path, "single", resume_dataset)
    assert watch(["features", ref_preset], timeout=300).returncode == 0
    preset, run_dir = _preset(tmp_path, "twice", resume_dataset)
    outcomes = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(watch(["features", preset], timeout=300))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.5)
    for thread in threads:
        thread.join()
    assert any(o.returncode == 0 for o in outcomes), [o.stderr[-500:] for o in outcomes]
    for refused in (o for o in outcomes if o.returncode != 0):
        assert refused.returncode == 2 and "in use by kwtui features" in refused.stderr, refused.stderr
    assert all("Traceback" not in o.stderr for o in outcomes)
    features_dir = run_dir / "features"
    assert _partial_npys(features_dir) == []
    again = watch(["features", preset], timeout=300)
    assert again.returncode == 0, again.stderr
    assert temp_files(features_dir) == []
    assert tree_digest(features_dir) == tree_digest(ref_dir / "features")


def test_a_locked_features_folder_is_refused_until_released(tmp_path, resume_dataset):
    """While another process holds the folder's lock, `kwtui features` exits 2 at once and touches nothing."""
    import os

    from kwtui.core.io import locks, ownership

    preset, run_dir = _preset(tmp_path, "locked", resume_dataset)
    ownership.claim(run_dir, "run_dir")
    features_dir = ownership.claim(run_dir / "features", "features.output")
    with locks.exclusive(features_dir, "features"):
        refused = watch(["features", preset], timeout=120)
        assert refused.returncode == 2, refused.stderr
        assert f"in use by kwtui features (pid {os.getpid()})" in refused.stderr.strip().splitlines()[-1]
        assert not list(features_dir.rglob("*.npy"))
    # released: as when the other run ends, or is killed
    assert watch(["features", preset], timeout=300).returncode == 0
