"""The evaluation's continuous audio: built from held-out material only, each source once, speech over noise at
the SNR asked, keywords where the plan says, rendered in bounded chunks; and the operating point picked from
the curve for a target false-accept rate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kwtui.core.data import ambient
from kwtui.core.data.mixing import active_rms
from kwtui.core.data.spectrogram import SAMPLE_RATE
from kwtui.core.detection_curve import Scored, detection_curve, hits
from kwtui.core.report import CurvePoint
from kwtui.core.stages.evaluate import _support_warnings, best_point

RATE = SAMPLE_RATE


def _tone(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


class FakeSources:
    """Regions backed by in-memory arrays (the reader the stage uses reads files; the plan does not care)."""

    def __init__(self) -> None:
        self.audio: dict[str, np.ndarray] = {}

    def region(self, name: str, audio: np.ndarray, kind: str, clip: bool = False) -> ambient.Region:
        self.audio[name] = audio
        return ambient.Region(name, 0, len(audio), kind, name, is_clip=clip)

    def read(self, region: ambient.Region, start: int, end: int) -> np.ndarray:
        return self.audio[region.source][start:end]


@pytest.fixture
def material():
    src = FakeSources()
    rng = np.random.default_rng(0)
    m = ambient.Material(
        words=[src.region(f"w{i}", _tone(300 + 50 * i, 1.0), "words", clip=True) for i in range(5)],
        speech=[src.region("talk", _tone(500, 25.0), "speech")],
        noise=[src.region("hiss", rng.normal(0, 0.3, 12 * RATE).astype(np.float32), "noise")],
        recordings=[src.region("kitchen", _tone(700, 3.0, 0.1), "recording")],
        keywords=[(src.region(f"k{i}", _tone(1000 + 100 * i, 1.0), "keyword", clip=True), i % 2) for i in range(6)],
    )
    return m, src


def test_ambient_plays_every_held_out_source_once_and_adds_only_pauses(material):
    m, _ = material
    stream = ambient.ambient_stream(m, (5.0, 20.0), seed=1)
    kinds = stream.seconds_by_kind()
    assert kinds["words"] == pytest.approx(5.0) and kinds["speech"] == pytest.approx(25.0)
    assert kinds["noise"] == pytest.approx(12.0) and kinds["recording"] == pytest.approx(3.0)
    utterances = 5 + 3  # 25 s of running speech is cut into 10 s pieces, each with its own SNR
    assert sum(1 for p in stream.pieces if p.region is None) == utterances
    assert ambient.GAP_SECONDS[0] * utterances <= kinds["pause"] <= ambient.GAP_SECONDS[1] * utterances
    assert stream.seconds == pytest.approx(sum(kinds.values()), abs=0.3)  # kinds are rounded to 0.1 s
    assert ambient.ambient_stream(m, (5.0, 20.0), seed=1).pieces == stream.pieces  # deterministic


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 20.0])
def test_speech_is_mixed_over_noise_at_the_snr_asked(material, snr_db):
    m, src = material
    stream = ambient.ambient_stream(m, (snr_db, snr_db), seed=2)
    audio = np.concatenate(list(ambient.render(stream, src.read)))
    piece = next(p for p in stream.pieces if p.region is not None and p.region.kind == "speech")
    mixed = audio[piece.offset : piece.offset + piece.length].astype(np.float64)
    clean = src.read(piece.region, piece.region.start, piece.region.end)[: piece.length]
    speech = clean * (ambient.SPEECH_RMS / active_rms(clean))
    noise = mixed - speech
    measured = 20 * np.log10(active_rms(speech) / np.sqrt(np.mean(noise**2)))
    assert measured == pytest.approx(snr_db, abs=0.1)
    # the pause before it carries the same noise, at the same level
    pause = stream.pieces[stream.pieces.index(piece) - 1]
    assert pause.region is None and pause.snr_db == piece.snr_db
    level = np.sqrt(np.mean(audio[pause.offset : pause.offset + pause.length].astype(np.float64) ** 2))
    assert level == pytest.approx(np.sqrt(np.mean(noise**2)), rel=0.05)


def test_keywords_are_placed_between_speech_where_the_plan_says(material):
    """Each keyword is said as inside a sentence: speech a word's gap before and after it; its recorded position
    is where its "1 s around the word" starts, a little before the word."""
    m, src = material
    stream = ambient.keyword_stream(m, (30.0, 30.0), seed=3)  # little noise: the clip is recognisable
    audio = np.concatenate(list(ambient.render(stream, src.read)))
    assert [k[1] for k in stream.keywords] == [i % 2 for i in range(6)]
    lead = int((ambient.KEYWORD_LEAD_SECONDS - ambient.SAID_MARGIN_SECONDS) * RATE)
    offsets = [p.offset for p in stream.pieces]
    for start, _index, label in stream.keywords:
        clip = src.audio[label]
        at = offsets.index(start + lead)
        assert stream.pieces[at].region is not None and stream.pieces[at].region.label == label
        got = audio[start + lead : start + lead + len(clip)]
        assert np.corrcoef(got, clip)[0, 1] > 0.99
        for gap, speech in (
            (stream.pieces[at - 1], stream.pieces[at - 2]),
            (stream.pieces[at + 1], stream.pieces[at + 2]),
        ):
            assert gap.region is None and gap.length <= ambient.WORD_GAP_SECONDS[1] * RATE  # a word's gap
            assert speech.region is not None and speech.region.kind in ("words", "speech")
    gaps = np.diff([k[0] for k in stream.keywords]) / RATE
    assert gaps.min() >= 1.0 + 2 * ambient.CONTEXT_SECONDS[0] * 0.5  # hit zones of two keywords never overlap


def test_a_keyword_is_placed_among_its_own_talkers_other_words(material):
    """A held-out speaker who said other words too says the keyword inside a sentence of them: 1-3 of their own
    words before it and 0-2 after, a word's gap apart; a speaker without other words gets running speech."""
    m, src = material
    alice = [
        replace(src.region(f"alice{i}", _tone(200 + 20 * i, 0.4), "words", clip=True), speaker="alice")
        for i in range(3)
    ]
    m.said_words = {"alice": alice}
    m.keywords = [
        (replace(clip, speaker="alice" if i < 4 else "bob"), index) for i, (clip, index) in enumerate(m.keywords)
    ]
    stream = ambient.keyword_stream(m, (30.0, 30.0), seed=5)
    lead = int((ambient.KEYWORD_LEAD_SECONDS - ambient.SAID_MARGIN_SECONDS) * RATE)
    offsets = [p.offset for p in stream.pieces]
    before_counts, after_counts = [], []
    for k, (start, _index, _label) in enumerate(stream.keywords):
        at = offsets.index(start + lead)
        sides = []
        for step in (-1, 1):
            said, i = [], at + step
            while stream.pieces[i].region is None and stream.pieces[i].length <= ambient.WORD_GAP_SECONDS[1] * RATE:
                neighbour = stream.pieces[i + step].region
                if neighbour is None:
                    break
                said.append(neighbour)
                i += 2 * step
            sides.append(said)
        if k < 4:  # alice's: her own words only, at least one before
            assert all(r.speaker == "alice" and r.kind == "words" for side in sides for r in side)
            assert 1 <= len(sides[0]) <= 3 and len(sides[1]) <= 2
            assert all(len({r.source for r in side}) == len(side) for side in sides)  # no "up up up yes"
            before_counts.append(len(sides[0]))
            after_counts.append(len(sides[1]))
        else:  # bob said nothing else held out: running speech or other clips, one stretch each side
            assert len(sides[0]) == len(sides[1]) == 1
            assert all(r.speaker != "alice" for side in sides for r in side)
    assert len(set(before_counts)) > 1 or len(set(after_counts)) > 1  # sentences of several lengths
    gaps = np.diff([k[0] for k in stream.keywords]) / RATE
    assert gaps.min() >= 2.0  # hit zones of two keywords never overlap


def test_a_held_out_keyword_is_played_without_the_silence_of_its_clip():
    """Inside a sentence a word has no half second of silence around it: the clip's speech and a short margin."""
    clip = np.concatenate([np.zeros(6080), _tone(1000, 0.3), np.zeros(RATE - 6080 - int(0.3 * RATE))]).astype(
        np.float32
    )
    region = ambient.Region("k", 0, RATE, "keyword", "yes", is_clip=True)
    said = ambient.said(region, clip)
    margin = int(ambient.SAID_MARGIN_SECONDS * RATE)
    assert (said.start, said.end) == (6080 - margin, 6080 + int(0.3 * RATE) + margin)
    assert ambient.said(region, np.zeros(RATE, np.float32)) == region  # no speech: played whole


def test_rendering_holds_one_chunk_at_a_time(material):
    m, src = material
    stream = ambient.ambient_stream(m, (5.0, 20.0), seed=4)
    chunks = list(ambient.render(stream, src.read, chunk_seconds=5.0))
    assert sum(len(c) for c in chunks) == stream.samples
    assert max(len(c) for c in chunks) <= (5.0 + ambient.PIECE_SECONDS * 1.5) * RATE


def _stream_with_keywords(positions_s, classes):
    stream = ambient.Stream()
    stream.samples = int((max(positions_s) + 5) * RATE)
    stream.keywords = [(int(p * RATE), c, f"k{c}") for p, c in zip(positions_s, classes)]
    return stream


def test_a_keyword_counts_only_for_a_detection_of_it_while_its_window_covers_the_clip():
    stream = _stream_with_keywords([10.0, 20.0, 30.0], [0, 1, 0])
    hop = 1600
    at = np.array([int(10.5 * RATE) // hop, int(19.0 * RATE) // hop, int(31.2 * RATE) // hop])
    cls = np.array([0, 1, 0])
    assert hits(at, cls, stream, hop, average_window=1).tolist() == [True, False, False]
    # the averaging window delays a detection by (N - 1) hops: still the same keyword's
    assert hits(at, cls, stream, hop, average_window=6).tolist() == [True, False, True]
    assert hits(at, np.array([1, 1, 1]), stream, hop, 1).tolist() == [False, False, False]  # wrong keyword


def test_curve_counts_false_accepts_and_misses_through_the_post_processing():
    hop_ms = 100.0
    ambient_scores = np.full((36000, 2), [0.0, 1.0], np.float32)  # one hour of windows
    ambient_scores[[100, 5000, 5001, 5002, 20000], 0] = [0.95, 0.97, 0.97, 0.97, 0.6]
    keyword_scores = np.full((600, 2), [0.0, 1.0], np.float32)
    stream = _stream_with_keywords([10.0, 30.0, 50.0], [0, 0, 0])
    for position, score in ((10.0, 0.99), (30.0, 0.93)):  # the third keyword is never scored high
        keyword_scores[int(position * 10) : int(position * 10) + 3, 0] = score
    scored = Scored(ambient_scores, keyword_scores, stream, ["k"], [0], hop_ms, 1000.0, 1.0)
    curve = detection_curve(scored, [1, 3], [0.5, 0.9, 0.96, 0.98])
    point = {(p.average_window, p.threshold): p for p in curve}
    assert point[(1, 0.5)].false_accepts == 3  # 5000-5002 within the refractory period: one detection
    assert point[(1, 0.9)].false_accepts == 2 and point[(1, 0.96)].false_accepts == 1
    assert point[(1, 0.9)].false_reject_rate == pytest.approx(1 / 3, abs=1e-3)
    assert point[(1, 0.96)].per_keyword_false_reject_rate == {"k": pytest.approx(2 / 3, abs=1e-3)}
    assert point[(3, 0.9)].false_accepts == 1  # averaging 3 windows removes the lone 0.95
    assert point[(1, 0.9)].false_accepts_per_hour == 2.0


def test_operating_point_is_the_lowest_frr_meeting_the_target():
    def p(window, threshold, fa, frr):
        return CurvePoint(window, threshold, fa, fa / 2.0, frr, 0)

    curve = [p(1, 0.5, 9, 0.01), p(1, 0.9, 1, 0.10), p(3, 0.8, 1, 0.05), p(3, 0.9, 0, 0.08), p(1, 0.99, 0, 0.3)]
    chosen, met = best_point(curve, 0.5)
    assert met and (chosen.average_window, chosen.threshold) == (3, 0.8)
    chosen, met = best_point(curve, 0.0)
    assert met and (chosen.average_window, chosen.threshold) == (3, 0.9)
    chosen, met = best_point([p(1, 0.5, 9, 0.01), p(1, 0.9, 4, 0.2)], 0.5)
    assert not met and chosen.threshold == 0.9  # nothing meets it: the fewest false accepts, said so


def test_too_little_ambient_audio_is_said_with_how_much_more_is_needed():
    m = ambient.Material(speech=[ambient.Region("x", 0, RATE, "speech", "x")])
    warnings = _support_warnings(0.5, 0.5, ambient.needed_hours(0.5), {"yes": 100}, m)
    assert any("too short to support 0.5 false accepts/h" in w and "needs 2 h" in w and "1.5 h" in w for w in warnings)
    assert _support_warnings(3.0, 0.5, 2.0, {"yes": 100}, m) == []
    assert any("no running speech" in w for w in _support_warnings(3.0, 0.5, 2.0, {"yes": 100}, ambient.Material()))


def test_augmented_variants_do_not_depend_on_where_the_run_folder_is(tmp_path):
    """The same job seed gives the same audio from two run folders (resume = uninterrupted run)."""
    from kwtui.core.features.augment import Augmenter, write_impulse_responses

    x = np.random.default_rng(1).normal(0, 0.1, RATE).astype(np.float32)
    import shutil

    made = write_impulse_responses(tmp_path / "a" / "rooms")
    copy = tmp_path / "b" / "rooms"
    copy.mkdir(parents=True)
    for path in sorted(made.iterdir(), reverse=True):  # created in another order (some filesystems list so)
        shutil.copy(path, copy / path.name)
    outputs = []
    for rooms in (made, copy):
        config = {
            "augment": True,
            "ir_dir": str(rooms),
            "time_shift_ms": 100,
            "noise_snr_db": (0, 20),
            "train_noise": [],
            "train_speech": [],
        }
        augment = Augmenter(config, None)
        outputs.append([augment(x, seed) for seed in range(30)])
    assert all(np.array_equal(a, b) for a, b in zip(*outputs))


def test_ambient_folders_take_regular_wavs_and_name_what_they_skip(tmp_path):
    import os

    import soundfile as sf

    folder = tmp_path / "recordings"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "kitchen.wav", np.zeros(RATE * 2, np.float32), RATE)
    sf.write(folder / "sub" / "street.WAV", np.zeros(RATE * 2, np.float32), RATE)
    os.mkfifo(folder / "pipe.wav")  # reading it would block for ever
    (folder / "notes.txt").write_text("not audio")
    (folder / "broken.wav").symlink_to(folder / "missing.wav")
    found, problems = ambient.recordings_in([str(folder), str(tmp_path / "nowhere")])
    assert [p.name for p in found] == ["kitchen.wav", "street.WAV"]
    reasons = {Path(where).name: why for where, why in problems}
    assert reasons["pipe.wav"] == "not a regular file"
    assert "broken.wav" in reasons and reasons["nowhere"] == "not a folder"


def test_shifted_and_sped_variants_never_cut_the_word():
    """A word at the very edge of its clip stays whole in every variant (a cut "marvin" is "marv", which
    "marvelling" also says), while the variants still move it and change its speed."""
    from kwtui.core.data.mixing import speech_span
    from kwtui.core.features.augment import SPEED_RANGE, Augmenter

    rng = np.random.default_rng(3)
    config = {
        "augment": True,
        "ir_dir": None,
        "time_shift_ms": 100,
        "noise_snr_db": (40, 40),
        "train_noise": [],
        "train_speech": [],
    }
    augment = Augmenter(config, None)
    starts, lengths = set(), set()
    word = rng.normal(0, 0.3, RATE // 2).astype(np.float32)  # 0.5 s at one level: a cut shows as a shorter span
    shortest = len(word) / SPEED_RANGE[1] - 160
    for at in (0, RATE // 2):
        x = np.zeros(RATE, np.float32)
        x[at : at + len(word)] = word
        for seed in range(40):
            span = speech_span(augment(x, seed))
            assert span is not None and span[1] - span[0] >= shortest, (at, seed, span)
            starts.add(span[0] // 160)
            lengths.add((span[1] - span[0]) // 160)
    assert len(starts) > 10 and len(lengths) > 3  # still moved and sped up or slowed down


def test_a_whole_word_shift_moves_the_word_only_as_far_as_it_fits():
    from kwtui.core.data.mixing import speech_span
    from kwtui.core.features.augment import shifted_whole

    rng = np.random.default_rng(0)
    x = np.zeros(RATE + RATE // 5, np.float32)  # a slowed-down clip: 1.2 s, the word in its last 0.3 s
    x[-RATE * 3 // 10 :] = 0.5
    for _ in range(50):
        first, last = speech_span(shifted_whole(x, 1600, rng))
        assert last - first == RATE * 3 // 10 and last <= RATE
    long_word = np.full(RATE * 2, 0.5, np.float32)  # longer than a window: the centre, as before
    assert np.all(shifted_whole(long_word, 1600, rng) == 0.5)
