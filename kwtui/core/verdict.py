"""The evaluation's verdict: one line a hobbyist can trust (usable / not usable / not measurable), the figures
behind it, and the two or three concrete steps that would most improve this model, derived from the figures.

Usable means: the operating point meets the false-accept target on enough held-out ambient audio to support it,
and misses at most USABLE_MAX_FRR of the held-out keyword clips. The evaluation's own point is judged by its misses
on audio it was not chosen on (report.CrossFitted), where the audio can be split in two: choosing a point among many
on the same keywords reads its misses low (bench/selection_bias.py), not its false accepts; a point picked by hand by
its own figures. A point that misses more than half is not
usable however little audio backs it, and so is one that already fires more often than the target on the audio
there is (the lower end of its false-accept rate's 95 % interval above the target: 223 false accepts in 0.68 h said
"not measurable"); otherwise, too little audio for the target is "not measurable".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kwtui.core.stats import poisson_rate_interval

if TYPE_CHECKING:
    from kwtui.core.report import CurvePoint, Report

Status = Literal["usable", "not usable", "not measurable"]
USABLE_MAX_FRR = 0.10  # misses at most 1 keyword in 10 at the chosen point
USELESS_FRR = 0.5  # misses more than half: not usable, whatever else
LOW_UNKNOWN_RECALL = 0.7
LOW_ACCURACY = 0.8
MAX_STEPS = 3


@dataclass(frozen=True)
class Verdict:
    status: Status
    frr: float | None
    fa_per_hour: float | None
    hours: float
    target_fa_per_hour: float
    next_steps: list[str] = field(default_factory=list)
    picked_by_hand: bool = False  # judged at a point the user picked, not at the evaluation's own

    def line(self) -> str:
        frr = "-" if self.frr is None else f"{self.frr:.0%}"
        fa = (
            "not measured"
            if self.fa_per_hour is None
            else f"{self.fa_per_hour:.0f} false accepts/h"
            if self.fa_per_hour >= 10
            else f"{self.fa_per_hour:.2g} false accepts/h"
        )
        # a point picked by hand is judged against the target the evaluation ran for (the preset then holds none)
        whose = "the evaluation's target" if self.picked_by_hand else "target"
        target = f" ({whose} {self.target_fa_per_hour:g}/h)" if self.target_fa_per_hour > 0 else ""
        where = " at the point picked by hand" if self.picked_by_hand else ""
        return (
            f"verdict{where}: {self.status.upper()}: misses {frr} of held-out keywords, {fa}{target} "
            f"on {self.hours:.2g} h of held-out audio"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}


def judge(report: Report, picked: CurvePoint | None = None) -> Verdict:
    """The verdict on an evaluation report: at its operating point, or at `picked` (a point of its curve the user
    chose instead), judged against the target the evaluation was run for."""
    op = report.operating_point
    point = picked or op.point
    frr = point.false_reject_rate
    fa = point.false_accepts_per_hour
    hours = report.ambient.hours
    target = report.target_fa_per_hour
    needed = report.needed_hours
    measurable = hours > 0 and (target <= 0 or hours >= needed)
    meets = op.meets_target if picked is None else fa is not None and (target <= 0 or fa <= target)
    if picked is None and op.unseen is not None:  # the evaluation's own point: its misses where it was not chosen
        frr = op.unseen.false_reject_rate
    if frr is not None and frr > USELESS_FRR:
        status: Status = "not usable"
    elif fires_above_target(point, hours, target):
        status = "not usable"
    elif not measurable:
        status = "not measurable"
    elif meets and frr is not None and frr <= USABLE_MAX_FRR:
        status = "usable"
    else:
        status = "not usable"
    return Verdict(status, frr, fa, hours, target, next_steps(report, measurable), picked is not None)


def fires_above_target(point: CurvePoint, hours: float, target: float) -> bool:
    """The point's false accepts already show it above the target, however little audio: the lower end of the rate's
    95 % interval is over it."""
    if target <= 0 or point.false_accepts is None:
        return False
    interval = poisson_rate_interval(point.false_accepts, hours)
    return interval is not None and interval[0] > target


def _more_ambient_audio(report: Report, measurable: bool) -> str | None:
    """The step when the ambient audio is too short for the target, or for a threshold per keyword: command words
    place each keyword's threshold for its share of the target, which needs more audio than the target does."""
    hours, needed = report.ambient.hours, report.needed_hours
    points = (report.operating_point.per_keyword_points or {}).values()
    shares = [p.share_fa_per_hour for p in points if p.share_fa_per_hour > 0]
    per_keyword_needed = 1.0 / min(shares) if shares else 0.0
    if measurable and hours >= per_keyword_needed:
        return None
    each = (
        f"; a threshold for each of {len(shares)} keywords needs {per_keyword_needed:g} h"
        if per_keyword_needed > needed
        else ""
    )
    return (
        f"{hours:.2g} h of held-out ambient audio (the target needs {needed:g} h{each}): add recordings "
        "without the keywords (conversation, TV, the room) to evaluate.ambient_folders"
    )


def next_steps(report: Report, measurable: bool) -> list[str]:
    """The most useful steps first, each naming the figure that calls for it and the field or folder to change."""
    op = report.operating_point
    steps: list[tuple[float, str]] = []  # (urgency, text)
    more_audio = _more_ambient_audio(report, measurable)
    if more_audio:
        steps.append((3.0, more_audio))
    per_keyword = op.point.per_keyword_false_reject_rate or {}
    if per_keyword:
        worst, frr = max(per_keyword.items(), key=lambda kv: kv[1])
        if frr > USABLE_MAX_FRR:
            steps.append(
                (
                    1.0 + frr,
                    f"'{worst}' missed {frr:.0%} at the chosen point: add clips of '{worst}' from more "
                    "voices, or raise features.variants (more augmented copies per clip)",
                )
            )
    unknown = report.per_class.get("_unknown")
    recall = unknown.recall if unknown is not None else None
    if recall is not None and recall < LOW_UNKNOWN_RECALL:
        steps.append(
            (
                2.0 - recall,
                f"_unknown recall {recall:.0%} (other words taken for keywords): add other "
                "words, or running speech to classes.negative_speech",
            )
        )
    sources = op.false_accepts_by_source
    total = sum(sources.values())
    if total and fa_over_target(report):
        kind, count = max(sources.items(), key=lambda kv: kv[1])
        words = op.false_accepts_by_word
        if kind == "words" and words:
            word, n = next(iter(words.items()))
            steps.append(
                (
                    1.5,
                    f'{n} of {total} false accepts on the word "{word}": add more clips of it (and '
                    "words like it) to the dataset",
                )
            )
        else:
            steps.append(
                (
                    1.5,
                    f"{count} of {total} false accepts on {kind}: add more audio like it without the "
                    "keywords to classes.negative_speech (running speech) or the noise folder",
                )
            )
    accuracy = report.accuracy
    if accuracy is not None and accuracy < LOW_ACCURACY:
        steps.append((1.2, f"test accuracy {accuracy:.0%}: train longer (train.epochs) or on more clips per word"))
    steps.sort(key=lambda s: -s[0])
    return [text for _, text in steps[:MAX_STEPS]]


def fa_over_target(report: Report) -> bool:
    fa = report.operating_point.point.false_accepts_per_hour
    target = report.target_fa_per_hour
    return fa is not None and target > 0 and fa > target
