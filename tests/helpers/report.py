"""Evaluation reports for tests that need one without evaluating: typed, as the evaluate stage builds them."""

from __future__ import annotations

from kwtui.core.report import (
    AmbientAudio,
    ClassFigures,
    ConfusionMatrix,
    CurvePoint,
    KeywordPlacements,
    OperatingPoint,
    Report,
)


def point(
    threshold: float,
    frr: float | None,
    false_accepts: int | None,
    hours: float,
    window: int = 1,
    per_keyword: dict[str, float] | None = None,
    misses: int = 0,
) -> CurvePoint:
    return CurvePoint(
        window,
        threshold,
        false_accepts,
        None if false_accepts is None or hours <= 0 else false_accepts / hours,
        frr,
        misses,
        per_keyword,
    )


def operating_point(
    chosen: CurvePoint,
    keywords: int = 1,
    meets_target: bool = True,
    chosen_by: str = "target",
    sources: dict[str, int] | None = None,
    words: dict[str, int] | None = None,
    frr_ci: tuple[float, float] | None = None,
    **fields,
) -> OperatingPoint:
    return OperatingPoint(
        chosen,
        (chosen.threshold,) * keywords,
        (chosen.average_window,) * keywords,
        1000.0,
        100.0,
        chosen_by,
        meets_target,
        frr_ci,
        fields.pop("per_keyword_false_reject_rate_ci", {}),
        fields.pop("per_keyword_clips", {}),
        fields.pop("false_accepts_per_hour_ci", None),
        sources or {},
        words or {},
        **fields,
    )


def report(
    op: OperatingPoint,
    curve: list[CurvePoint] | None = None,
    *,
    hours: float = 1.0,
    needed: float = 0.0,
    target: float = 0.5,
    accuracy: float | None = 0.9,
    labels: tuple[str, ...] = ("yes", "_unknown"),
    matrix: tuple[tuple[int, ...], ...] | None = None,
    per_class: dict[str, ClassFigures] | None = None,
    support_warnings: tuple[str, ...] = (),
    fingerprint: str = "0" * 40,
    preset: str = "test",
) -> Report:
    """A report around `op` (its point is on `curve`, which defaults to that point alone)."""
    matrix = matrix or tuple(tuple(10 if i == j else 0 for j in range(len(labels))) for i in range(len(labels)))
    if per_class is None:
        per_class = {name: ClassFigures(1.0, 1.0, sum(matrix[i])) for i, name in enumerate(labels)}
    return Report(
        fingerprint,
        labels,
        preset,
        "model_best.keras",
        True,
        "",
        sum(map(sum, matrix)),
        accuracy,
        ConfusionMatrix(labels, matrix),
        per_class,
        AmbientAudio(
            round(hours * 3600, 1),
            hours,
            {"speech": round(hours * 3600, 1)},
            {"other_word_clips": 0, "speech_regions": 1, "noise_regions": 0, "recordings": 0},
            (0.0, 20.0),
            int(hours * 36000),
        ),
        KeywordPlacements(10, {labels[0]: 10}, 30.0),
        target,
        needed,
        support_warnings,
        op,
        tuple(curve if curve is not None else [op.point]),
    )
