"""The experiments domain: create, start, stop, ramp and force; assignments from memory; exposure
recording; the read-out.

Assignments are answered from an in-memory copy of the running experiments and QA overrides,
refreshed after every local write and every `refresh_s` from the database (so a second replica
sees another's changes within that time); no request-path query.
"""

from __future__ import annotations

import asyncio
import builtins
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from vod.experiments.v1 import experiments_pb2 as pb

from services.experiments.analysis import ArmData, compare, sample_ratio_mismatch
from services.experiments.assignment import Arm, Candidate, allocate, assign
from services.experiments.repository import (
    ExposureRow,
    PostgresExperimentsRepository,
    ProfileOutcome,
)
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.logs import get_logger
from services.runtime.tasks import cancel_and_wait

__all__ = ["ExperimentsDomain", "Policy"]

_log = get_logger("experiments.domain")

_AGE = {pb.PROFILE_AGE_NEW: "new", pb.PROFILE_AGE_EXISTING: "existing"}
# Guardrails where a higher value is worse.
_HIGHER_IS_WORSE = {pb.METRIC_TTFF_MS, pb.METRIC_PLAY_ERROR_RATE}


@dataclass(frozen=True)
class Policy:
    holdout_percent: int = 5
    refresh_s: float = 2.0


def _metric_values(
    metric: int, outcomes: Sequence[ProfileOutcome], now: datetime
) -> tuple[list[float], list[float] | None]:
    """Per-profile values of `metric` and, where it has one, the pre-period covariate."""
    values: list[float] = []
    pre: list[float] = []
    for o in outcomes:
        days = max(1.0, (now - o.first_exposure) / timedelta(days=1))
        if metric == pb.METRIC_PLAYS_PER_PROFILE_DAY:
            values.append(o.plays_after / days)
            pre.append(o.plays_pre / 14.0)
        elif metric == pb.METRIC_HOURS_PER_PROFILE_DAY:
            values.append(o.seconds_after / 3600.0 / days)
            pre.append(o.seconds_pre / 3600.0 / 14.0)
        elif metric == pb.METRIC_RETENTION_7D:
            values.append(1.0 if o.retained_7d else 0.0)
        elif metric == pb.METRIC_TTFF_MS and o.ttff_ms is not None:
            values.append(o.ttff_ms)
        elif metric == pb.METRIC_PLAY_ERROR_RATE and o.error_rate is not None:
            values.append(o.error_rate)
    has_pre = metric in (pb.METRIC_PLAYS_PER_PROFILE_DAY, pb.METRIC_HOURS_PER_PROFILE_DAY)
    return values, (pre if has_pre and np.var(pre or [0.0]) > 0 else None)


def _result(metric: int, control: ArmData, arm: ArmData, confidence: float, is_control: bool):  # type: ignore[no-untyped-def]
    if is_control:
        values = np.asarray(arm.values, dtype=float)
        return pb.MetricResult(
            metric=metric,  # type: ignore[arg-type]
            profiles=len(values),
            mean=float(values.mean()) if len(values) else 0.0,
            p_value=1.0,
        )
    c = compare(control, arm, confidence=confidence)
    return pb.MetricResult(
        metric=metric,  # type: ignore[arg-type]
        profiles=c.profiles,
        mean=c.mean,
        delta=c.delta,
        delta_ci_low=c.ci_low,
        delta_ci_high=c.ci_high,
        relative_delta=c.relative_delta,
        p_value=c.p_value,
        cuped=c.cuped,
        variance_reduction=c.variance_reduction,
    )


class ExperimentsDomain:
    def __init__(
        self,
        repository: PostgresExperimentsRepository,
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repo = repository
        self._policy = policy or Policy()
        self._now = clock
        self._candidates: list[Candidate] = []
        self._forced: dict[tuple[str, str], str] = {}
        self._version: object = None
        self._refresher: asyncio.Task[None] | None = None

    # -- cache ----------------------------------------------------------------------------------

    async def refresh(self) -> None:
        experiments = await self._repo.list()
        self._candidates = [
            Candidate(
                name=e.name,
                layer=e.layer,
                salt=e.salt,
                first_bucket=e.first_bucket,
                bucket_count=e.bucket_count,
                traffic_percent=e.traffic_percent,
                arms=tuple(Arm(v.id, v.share_percent, dict(v.parameters)) for v in e.variants),
                region_codes=frozenset(e.targeting.region_codes),
                plans=frozenset(e.targeting.plans),
                profile_age=_AGE.get(e.targeting.profile_age, "all"),
                start_time=e.start_time.ToDatetime(tzinfo=UTC)
                if e.HasField("start_time")
                else None,
                end_time=e.end_time.ToDatetime(tzinfo=UTC) if e.HasField("end_time") else None,
            )
            for e in experiments
            if e.state == pb.EXPERIMENT_STATE_RUNNING
        ]
        self._forced = await self._repo.forced()
        self._version = await self._repo.version()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._policy.refresh_s)
            try:
                if await self._repo.version() != self._version:
                    await self.refresh()
            except Exception as exc:  # keep serving the last copy
                _log.warning("experiments.refresh_failed", error=str(exc))

    async def start(self) -> None:
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._refresher is not None:
            await cancel_and_wait([self._refresher])

    # -- admin ----------------------------------------------------------------------------------

    async def create(self, experiment_id: str, experiment: pb.Experiment) -> pb.Experiment:
        variants = list(experiment.variants)
        ids = [v.id for v in variants]
        if len(variants) < 2:
            raise InvalidArgument.for_field(
                "experiment.variants", "needs a control and at least one other variant"
            )
        if len(set(ids)) != len(ids):
            raise InvalidArgument.for_field("experiment.variants", "variant ids must be unique")
        if sum(v.share_percent for v in variants) != 100:
            raise InvalidArgument.for_field(
                "experiment.variants", "share_percent of the variants must sum to 100"
            )
        if (
            experiment.HasField("start_time")
            and experiment.HasField("end_time")
            and experiment.end_time.ToDatetime() <= experiment.start_time.ToDatetime()
        ):
            raise InvalidArgument.for_field("experiment.end_time", "must be after start_time")
        if not experiment.primary_metric:
            raise InvalidArgument.for_field("experiment.primary_metric", "is required")
        share = experiment.layer_share_percent or 100
        taken = [
            (e.first_bucket, e.bucket_count)
            for e in await self._repo.list(experiment.layer)
            if e.state != pb.EXPERIMENT_STATE_STOPPED
        ]
        holdout = self._policy.holdout_percent * 100
        allocation = allocate(taken, share, holdout_buckets=holdout)
        if allocation is None:
            raise FailedPrecondition(
                f"layer {experiment.layer!r} has no free run of {share}% of its traffic; stop an "
                "experiment on it or ask for less",
                reason="LAYER_FULL",
            )
        stored = pb.Experiment()
        stored.CopyFrom(experiment)
        stored.layer_share_percent = share
        stored.traffic_percent = experiment.traffic_percent or 100
        stored.state = pb.EXPERIMENT_STATE_DRAFT
        stored.salt = experiment.salt or secrets.token_hex(8)
        stored.first_bucket = allocation.first_bucket
        stored.bucket_count = allocation.bucket_count
        created = await self._repo.create(experiment_id, stored)
        self._repo.wake_outbox()  # a draft assigns nobody: nothing to refresh first
        _log.info("experiment.created", experiment=created.name, layer=created.layer)
        return created

    async def get(self, name: str) -> pb.Experiment:
        experiment = await self._repo.get(name.removeprefix("experiments/"))
        if experiment is None:
            raise NotFound(f"{name} does not exist", reason="EXPERIMENT_NOT_FOUND")
        return experiment

    async def list(self, layer: str) -> list[pb.Experiment]:
        return await self._repo.list(layer)

    async def update_state(self, name: str, state: int, traffic_percent: int) -> pb.Experiment:
        current = await self.get(name)
        values: dict[str, object] = {}
        if state and state != current.state:
            allowed = {
                (pb.EXPERIMENT_STATE_DRAFT, pb.EXPERIMENT_STATE_RUNNING),
                (pb.EXPERIMENT_STATE_RUNNING, pb.EXPERIMENT_STATE_STOPPED),
                (pb.EXPERIMENT_STATE_DRAFT, pb.EXPERIMENT_STATE_STOPPED),
            }
            if (current.state, state) not in allowed:
                raise FailedPrecondition(
                    f"{name} is {pb.ExperimentState.Name(current.state)}; it cannot become "
                    f"{pb.ExperimentState.Name(state)}",  # type: ignore[arg-type]
                    reason="BAD_TRANSITION",
                )
            values["state"] = state
            if state == pb.EXPERIMENT_STATE_RUNNING and not current.HasField("start_time"):
                values["start_time"] = self._now()
            if state == pb.EXPERIMENT_STATE_STOPPED:
                values["end_time"] = self._now()
        if traffic_percent:
            if current.state == pb.EXPERIMENT_STATE_STOPPED:
                raise FailedPrecondition(f"{name} is stopped", reason="BAD_TRANSITION")
            if traffic_percent < current.traffic_percent:
                raise FailedPrecondition(
                    f"a ramp only goes up (now {current.traffic_percent}%): lowering it would move "
                    "exposed profiles out of their variant; stop the experiment instead",
                    reason="RAMP_DOWN",
                )
            values["traffic_percent"] = traffic_percent
        if not values:
            return current
        updated = await self._repo.update(name.removeprefix("experiments/"), **values)
        await self.refresh()
        self._repo.wake_outbox()
        _log.info(
            "experiment.updated",
            experiment=name,
            state=pb.ExperimentState.Name(updated.state),  # type: ignore[arg-type]
            traffic_percent=updated.traffic_percent,
        )
        return updated

    async def force(self, name: str, profile: str, variant: str) -> pb.Assignment:
        experiment = await self.get(name)
        arms = {v.id: v for v in experiment.variants}
        if variant and variant not in arms:
            raise InvalidArgument.for_field(
                "variant", f"{name} has no variant {variant!r}; it has {', '.join(arms)}"
            )
        await self._repo.set_forced(experiment, profile, variant)
        await self.refresh()
        self._repo.wake_outbox()
        if not variant:
            return pb.Assignment(experiment=name, layer=experiment.layer)
        return pb.Assignment(
            experiment=name,
            layer=experiment.layer,
            variant=variant,
            parameters=dict(arms[variant].parameters),
            forced=True,
        )

    # -- request path ---------------------------------------------------------------------------

    def assignments(
        self, profile: str, region: str, plan: str, created: datetime | None
    ) -> builtins.list[pb.Assignment]:
        return [
            pb.Assignment(
                experiment=c.experiment,
                layer=c.layer,
                variant=c.arm.id,
                parameters=dict(c.arm.parameters),
                forced=c.forced,
            )
            for c in assign(
                profile,
                self._candidates,
                region=region,
                plan=plan,
                created=created,
                now=self._now(),
                forced=self._forced,
            )
        ]

    async def record_exposures(self, request: pb.RecordExposuresRequest) -> int:
        known = {c.name: c for c in self._candidates}
        rows: list[tuple[ExposureRow, pb.Exposure]] = []
        for i, exposure in enumerate(request.exposures):
            candidate = known.get(exposure.experiment)
            if candidate is None:
                stored = await self._repo.get(exposure.experiment.removeprefix("experiments/"))
                if stored is None:
                    raise NotFound(
                        f"{exposure.experiment} does not exist", reason="EXPERIMENT_NOT_FOUND"
                    )
                arm_ids = {v.id for v in stored.variants}
            else:
                arm_ids = {a.id for a in candidate.arms}
            if exposure.variant not in arm_ids:
                raise InvalidArgument.for_field(
                    f"exposures[{i}].variant", f"{exposure.experiment} has no such variant"
                )
            rows.append(
                (
                    ExposureRow(
                        exposure.experiment,
                        request.profile,
                        exposure.variant,
                        request.surface,
                        exposure.forced,
                    ),
                    exposure,
                )
            )
        return await self._repo.record_exposures(request.response_id, request.region_code, rows)

    # -- read-out -------------------------------------------------------------------------------

    async def report(self, name: str, confidence_percent: int) -> pb.GetExperimentReportResponse:
        experiment = await self.get(name)
        experiment_id = name.removeprefix("experiments/")
        confidence = (confidence_percent or 95) / 100
        if not 0.8 <= confidence < 1.0:
            raise InvalidArgument.for_field("confidence_percent", "must be between 80 and 99")
        now = self._now()
        if experiment.HasField("end_time"):
            now = min(now, experiment.end_time.ToDatetime(tzinfo=UTC))
        outcomes = await self._repo.outcomes(experiment_id, now)
        counts = await self._repo.exposure_counts(experiment_id)
        arms = [v.id for v in experiment.variants]
        by_arm = {a: [o for o in outcomes if o.variant == a] for a in arms}
        shares = {v.id: v.share_percent for v in experiment.variants}
        srm_p, srm = sample_ratio_mismatch({a: len(by_arm[a]) for a in arms}, shares)
        response = pb.GetExperimentReportResponse(
            experiment=experiment,
            srm_p_value=srm_p,
            sample_ratio_mismatch=srm,
            confidence_percent=round(confidence * 100),
        )
        metrics = [experiment.primary_metric, *experiment.guardrail_metrics]
        data: dict[int, dict[str, ArmData]] = {}
        for metric in metrics:
            data[metric] = {}
            for arm in arms:
                values, pre = _metric_values(metric, by_arm[arm], now)
                data[metric][arm] = ArmData(values, pre)
            if any(d.pre is None for d in data[metric].values()):
                data[metric] = {a: ArmData(d.values) for a, d in data[metric].items()}
        control = arms[0]
        for arm in arms:
            report = pb.VariantReport(
                variant=arm,
                exposed_profiles=counts.get(arm, (0, 0))[0],
                exposures=counts.get(arm, (0, 0))[1],
                expected_share_percent=shares[arm],
            )
            primary = experiment.primary_metric
            report.primary.CopyFrom(
                _result(
                    primary, data[primary][control], data[primary][arm], confidence, arm == control
                )
            )
            for metric in experiment.guardrail_metrics:
                result = _result(
                    metric, data[metric][control], data[metric][arm], confidence, arm == control
                )
                report.guardrails.append(result)
                worse = (
                    result.delta_ci_low > 0
                    if metric in _HIGHER_IS_WORSE
                    else result.delta_ci_high < 0
                )
                if arm != control and worse and result.profiles > 1:
                    response.guardrail_violations.append(
                        f"{arm}: {pb.Metric.Name(metric)} {result.relative_delta:+.1%}"  # type: ignore[arg-type]
                    )
            response.variants.append(report)
        response.summary = _summary(response)
        return response


def _summary(report: pb.GetExperimentReportResponse) -> str:
    if report.sample_ratio_mismatch:
        return (
            f"sample-ratio mismatch (p={report.srm_p_value:.2g}): the split is broken; do not "
            "read the metrics"
        )
    parts = []
    for variant in report.variants[1:]:
        p = variant.primary
        verdict = (
            "significant" if p.p_value < 1 - report.confidence_percent / 100 else "not significant"
        )
        parts.append(
            f"{variant.variant}: {p.relative_delta:+.1%} "
            f"[{p.delta_ci_low:+.3g}, {p.delta_ci_high:+.3g}] ({verdict}, p={p.p_value:.2g})"
        )
    if report.guardrail_violations:
        parts.append("guardrails violated: " + "; ".join(report.guardrail_violations))
    return "; ".join(parts) or "no variants"
