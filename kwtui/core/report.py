"""The evaluation report (report.json) and the points it holds, typed, with a versioned JSON round trip.

One name per concept ("operating point" named three things: the report's chosen point, the thresholds the device
gets, and any point a search of the curve returned), so a name says whether figures come with it:
- CurvePoint: one (averaging window, threshold) of the detection curve with what the firmware's post-processing
  does there: false accepts on the ambient audio, misses of the placed keywords.
- KeywordPoint: a keyword's own point (command words with a target): chosen on its own curve for its share of
  the target.
- OperatingPoint: the point the evaluation chose (for evaluate.target_fa_per_hour, else the preset's), with the
  intervals and sources of its figures; report.json's "operating_point". Only the evaluation makes one.
- DetectorSettings (kwtui.core.io.records.detector_settings): the threshold and averaging window per keyword that
  the device and every deployment artifact get, and where they came from (the up-to-date operating point, or the
  preset). Not an operating point: it has no figures, and it is the preset's own without an evaluation.
  (model.json's "operating_point_from" and esphome.json's "operating_point" keep their keys: records on disk.)
- best_point (kwtui.core.operating_point): the curve's lowest-FRR point at or under a rate; the evaluation's pick
  becomes the OperatingPoint only through choose_for_target.

report.json keeps its plain keys (bench/ and other tools read them); `version` is REPORT_VERSION. A report of
another version is refused (StaleReport: one line, exit 2, "re-run `kwtui evaluate`"), as a stale record is: the
readers need every field. The verdict and the threshold sweep are derived from the figures: written into
report.json for people and other tools, derived again on reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from kwtui.core.errors import UserError
from kwtui.core.verdict import Verdict, judge

# 2: typed; every field present (version 1 reports could lack some: they are evaluated again). 3: the operating
# point's figures on audio its choice did not see (CrossFitted), which the verdict quotes
REPORT_VERSION = 3


class StaleReport(UserError):
    """A report.json this kwtui cannot read (another version, missing fields): evaluate again. Exit code 2."""

    def __init__(self, reason: str, source: str = "report.json", rerun: str = "kwtui evaluate") -> None:
        super().__init__(f"{source}: {reason}: re-run `{rerun}`")
        self.reason = reason


Interval = tuple[float, float]


def _interval(value: Any) -> Interval | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _list(interval: Interval | None) -> list[float] | None:
    return None if interval is None else list(interval)


@dataclass(frozen=True)
class CurvePoint:
    average_window: int
    threshold: float
    false_accepts: int | None  # None: no ambient audio to count them on
    false_accepts_per_hour: float | None
    false_reject_rate: float | None  # None: no keyword placed
    misses: int
    per_keyword_false_reject_rate: dict[str, float] | None = None  # None on a keyword's own curve

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "average_window": self.average_window,
            "threshold": self.threshold,
            "false_accepts": self.false_accepts,
            "false_accepts_per_hour": self.false_accepts_per_hour,
            "false_reject_rate": self.false_reject_rate,
        }
        if self.per_keyword_false_reject_rate is not None:
            data["per_keyword_false_reject_rate"] = dict(self.per_keyword_false_reject_rate)
        data["misses"] = self.misses
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurvePoint:
        per_keyword = data.get("per_keyword_false_reject_rate")
        return cls(
            int(data["average_window"]),
            float(data["threshold"]),
            data["false_accepts"],
            data["false_accepts_per_hour"],
            data["false_reject_rate"],
            int(data["misses"]),
            None if per_keyword is None else {str(k): float(v) for k, v in per_keyword.items()},
        )


def false_reject_rate_interval(point: CurvePoint, curve: Sequence[CurvePoint]) -> tuple[float, float] | None:
    """The 95 % interval of `point`'s miss rate: every point of a curve counts misses among the same held-out
    keywords, whose number any point that missed some gives (misses / rate)."""
    from kwtui.core.stats import wilson_interval

    counts = [round(p.misses / p.false_reject_rate) for p in curve if p.false_reject_rate and p.misses > 0]
    return wilson_interval(point.misses, counts[0]) if counts else None


@dataclass(frozen=True)
class KeywordPoint:
    point: CurvePoint  # on the keyword's own curve (the post-processing watching that keyword alone)
    met: bool  # its share of the target
    chosen_by: str
    share_fa_per_hour: float

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.point.to_dict(),
            "met": self.met,
            "chosen_by": self.chosen_by,
            "share_fa_per_hour": self.share_fa_per_hour,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeywordPoint:
        return cls(
            CurvePoint.from_dict(data), bool(data["met"]), str(data["chosen_by"]), float(data["share_fa_per_hour"])
        )


@dataclass(frozen=True)
class CrossFitted:
    """What the chosen point's rule does on audio it was not chosen on (kwtui.core.cross_fit): the keywords and
    the ambient audio split in two halves, the point chosen on each half as the evaluation chooses, its misses and
    false accepts counted on the other half, both halves summed. A point chosen and counted on the same audio fits
    that audio's chance, so its own figures read low; these do not."""

    misses: int
    keywords: int
    false_reject_rate: float | None
    false_reject_rate_ci: Interval | None
    false_accepts: int | None
    hours: float
    false_accepts_per_hour: float | None
    false_accepts_per_hour_ci: Interval | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "misses": self.misses,
            "keywords": self.keywords,
            "false_reject_rate": self.false_reject_rate,
            "false_reject_rate_ci": _list(self.false_reject_rate_ci),
            "false_accepts": self.false_accepts,
            "hours": self.hours,
            "false_accepts_per_hour": self.false_accepts_per_hour,
            "false_accepts_per_hour_ci": _list(self.false_accepts_per_hour_ci),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossFitted:
        return cls(
            int(data["misses"]),
            int(data["keywords"]),
            data["false_reject_rate"],
            _interval(data["false_reject_rate_ci"]),
            data["false_accepts"],
            float(data["hours"]),
            data["false_accepts_per_hour"],
            _interval(data["false_accepts_per_hour_ci"]),
        )


@dataclass(frozen=True)
class OperatingPoint:
    """`point`: its figures. With a point per keyword (`per_keyword_points`) they are all keywords' together on the
    device, and `point`'s threshold and window are keyword 0's; `thresholds` and `average_windows` hold every
    keyword's either way."""

    point: CurvePoint
    thresholds: tuple[float, ...]
    average_windows: tuple[int, ...]
    refractory_ms: float
    hop_ms: float
    chosen_by: str  # in words, written everywhere the point is (report, model.json, manifests)
    meets_target: bool
    false_reject_rate_ci: Interval | None
    per_keyword_false_reject_rate_ci: dict[str, Interval | None]
    per_keyword_clips: dict[str, int]
    false_accepts_per_hour_ci: Interval | None
    false_accepts_by_source: dict[str, int]
    false_accepts_by_word: dict[str, int]  # most first
    per_keyword_points: dict[str, KeywordPoint] | None = None
    unseen: CrossFitted | None = None  # None: too few keywords or too little audio to split in two

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.point.to_dict(),
            "refractory_ms": self.refractory_ms,
            "hop_ms": self.hop_ms,
            "chosen_by": self.chosen_by,
            "meets_target": self.meets_target,
            "false_reject_rate_ci": _list(self.false_reject_rate_ci),
            "per_keyword_false_reject_rate_ci": {k: _list(v) for k, v in self.per_keyword_false_reject_rate_ci.items()},
            "per_keyword_clips": dict(self.per_keyword_clips),
            "false_accepts_per_hour_ci": _list(self.false_accepts_per_hour_ci),
            "false_accepts_by_source": dict(self.false_accepts_by_source),
            "false_accepts_by_word": dict(self.false_accepts_by_word),
            "thresholds": list(self.thresholds),
            "average_windows": list(self.average_windows),
            **(
                {"per_keyword_points": {k: p.to_dict() for k, p in self.per_keyword_points.items()}}
                if self.per_keyword_points is not None
                else {}
            ),
            "unseen": None if self.unseen is None else self.unseen.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperatingPoint:
        points = data.get("per_keyword_points")
        return cls(
            CurvePoint.from_dict(data),
            tuple(float(t) for t in data["thresholds"]),
            tuple(int(w) for w in data["average_windows"]),
            float(data["refractory_ms"]),
            float(data["hop_ms"]),
            str(data["chosen_by"]),
            bool(data["meets_target"]),
            _interval(data["false_reject_rate_ci"]),
            {str(k): _interval(v) for k, v in data["per_keyword_false_reject_rate_ci"].items()},
            {str(k): int(v) for k, v in data["per_keyword_clips"].items()},
            _interval(data["false_accepts_per_hour_ci"]),
            dict(data["false_accepts_by_source"]),
            dict(data["false_accepts_by_word"]),
            None if points is None else {str(k): KeywordPoint.from_dict(p) for k, p in points.items()},
            None if data["unseen"] is None else CrossFitted.from_dict(data["unseen"]),
        )


@dataclass(frozen=True)
class ClassFigures:
    precision: float | None  # None: never predicted
    recall: float | None  # None: no test clip of the class
    support: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassFigures:
        return cls(data["precision"], data["recall"], int(data["support"]))


@dataclass(frozen=True)
class ConfusionMatrix:
    labels: tuple[str, ...]
    rows_true_cols_predicted: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "rows_true_cols_predicted": [list(r) for r in self.rows_true_cols_predicted],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfusionMatrix:
        return cls(tuple(data["labels"]), tuple(tuple(int(v) for v in row) for row in data["rows_true_cols_predicted"]))


@dataclass(frozen=True)
class AmbientAudio:
    """The held-out ambient audio false accepts are counted on."""

    seconds: float
    hours: float
    seconds_by_kind: dict[str, float]
    sources: dict[str, int]  # other_word_clips, speech_regions, noise_regions, recordings
    snr_db: tuple[float, float]
    windows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "hours": self.hours,
            "seconds_by_kind": dict(self.seconds_by_kind),
            "sources": dict(self.sources),
            "snr_db": list(self.snr_db),
            "windows": self.windows,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AmbientAudio:
        low, high = data["snr_db"]
        return cls(
            float(data["seconds"]),
            float(data["hours"]),
            dict(data["seconds_by_kind"]),
            dict(data["sources"]),
            (float(low), float(high)),
            int(data["windows"]),
        )


@dataclass(frozen=True)
class KeywordPlacements:
    """The held-out keyword clips placed inside ambient audio, misses are counted on."""

    clips: int
    per_keyword: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"clips": self.clips, "per_keyword": dict(self.per_keyword), "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeywordPlacements:
        return cls(int(data["clips"]), {str(k): int(v) for k, v in data["per_keyword"].items()}, float(data["seconds"]))


@dataclass(frozen=True)
class Report:
    fingerprint: str  # records.report_fingerprint: what the report was made from
    labels: tuple[str, ...]
    preset: str
    model: str
    test_held_out: bool  # False: the final-fit-all model, trained on the test split
    note: str
    test_clips: int
    accuracy: float | None
    confusion_matrix: ConfusionMatrix
    per_class: dict[str, ClassFigures]
    ambient: AmbientAudio
    keyword_placements: KeywordPlacements
    target_fa_per_hour: float
    needed_hours: float  # of ambient audio, to support the target
    support_warnings: tuple[str, ...]
    operating_point: OperatingPoint
    curve: tuple[CurvePoint, ...]
    version: int = REPORT_VERSION

    KIND = "report"

    @property
    def verdict(self) -> Verdict:
        return judge(self)

    @property
    def threshold_sweep(self) -> tuple[CurvePoint, ...]:
        """The curve's points at the operating point's averaging window, by threshold."""
        window = self.operating_point.point.average_window
        return tuple(p for p in self.curve if p.average_window == window)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.to_dict(),
            "kind": self.KIND,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "labels": list(self.labels),
            "preset": self.preset,
            "model": self.model,
            "test_held_out": self.test_held_out,
            "note": self.note,
            "test_clips": self.test_clips,
            "accuracy": self.accuracy,
            "confusion_matrix": self.confusion_matrix.to_dict(),
            "per_class": {
                name: {"precision": c.precision, "recall": c.recall, "support": c.support}
                for name, c in self.per_class.items()
            },
            "ambient": self.ambient.to_dict(),
            "keyword_placements": self.keyword_placements.to_dict(),
            "target_fa_per_hour": self.target_fa_per_hour,
            "needed_hours": self.needed_hours,
            "support_warnings": list(self.support_warnings),
            "operating_point": self.operating_point.to_dict(),
            "curve": [p.to_dict() for p in self.curve],
            "threshold_sweep": [p.to_dict() for p in self.threshold_sweep],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "report.json", rerun: str = "kwtui evaluate") -> Report:
        """The report in `data` (report.json's content); StaleReport (naming `source` and the command `rerun`)
        for another version or content this kwtui cannot read."""
        version = data.get("version")
        if data.get("kind") != cls.KIND:
            raise StaleReport("not an evaluation report", source, rerun)
        if version != REPORT_VERSION:
            raise StaleReport(f"report version {version}; this kwtui reads version {REPORT_VERSION}", source, rerun)
        try:
            return cls(
                str(data["fingerprint"]),
                tuple(data["labels"]),
                str(data["preset"]),
                str(data["model"]),
                bool(data["test_held_out"]),
                str(data["note"]),
                int(data["test_clips"]),
                data["accuracy"],
                ConfusionMatrix.from_dict(data["confusion_matrix"]),
                {str(k): ClassFigures.from_dict(v) for k, v in data["per_class"].items()},
                AmbientAudio.from_dict(data["ambient"]),
                KeywordPlacements.from_dict(data["keyword_placements"]),
                float(data["target_fa_per_hour"]),
                float(data["needed_hours"]),
                tuple(data["support_warnings"]),
                OperatingPoint.from_dict(data["operating_point"]),
                tuple(CurvePoint.from_dict(p) for p in data["curve"]),
                version,
            )
        except KeyError as exc:
            raise StaleReport(f"no {exc} in it", source, rerun) from None
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise StaleReport(f"unreadable ({exc})", source, rerun) from None
