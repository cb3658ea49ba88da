"""PostgreSQL storage of experiments, exposures and plays (SQLAlchemy Core, async psycopg)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from vod.events.v1 import experiment_events_pb2 as ev
from vod.experiments.v1 import experiments_pb2 as pb

from services.experiments import schema as t
from services.runtime.errors import AlreadyExists
from services.runtime.events import new_meta
from services.runtime.outbox import enqueue

__all__ = ["ExposureRow", "PostgresExperimentsRepository", "ProfileOutcome"]

PRE_PERIOD = timedelta(days=14)


def _ts(value: datetime | None) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


def experiment_of(row: Any) -> pb.Experiment:
    experiment = pb.Experiment(
        name=f"experiments/{row.id}",
        display_name=row.display_name,
        layer=row.layer,
        variants=[
            pb.Variant(id=v["id"], share_percent=v["share_percent"], parameters=v["parameters"])
            for v in row.variants
        ],
        layer_share_percent=row.layer_share_percent,
        traffic_percent=row.traffic_percent,
        targeting=pb.Targeting(
            region_codes=list(row.region_codes),
            plans=list(row.plans),
            profile_age=row.profile_age,  # type: ignore[arg-type]
        ),
        primary_metric=row.primary_metric,  # type: ignore[arg-type]
        guardrail_metrics=list(row.guardrail_metrics),
        state=row.state,  # type: ignore[arg-type]
        salt=row.salt,
        first_bucket=row.first_bucket,
        bucket_count=row.bucket_count,
        create_time=_ts(row.create_time),
    )
    if row.start_time is not None:
        experiment.start_time.CopyFrom(_ts(row.start_time))
    if row.end_time is not None:
        experiment.end_time.CopyFrom(_ts(row.end_time))
    return experiment


def _values(experiment: pb.Experiment) -> dict[str, Any]:
    return {
        "display_name": experiment.display_name,
        "layer": experiment.layer,
        "variants": [
            {"id": v.id, "share_percent": v.share_percent, "parameters": dict(v.parameters)}
            for v in experiment.variants
        ],
        "layer_share_percent": experiment.layer_share_percent,
        "traffic_percent": experiment.traffic_percent,
        "region_codes": list(experiment.targeting.region_codes),
        "plans": list(experiment.targeting.plans),
        "profile_age": experiment.targeting.profile_age,
        "start_time": experiment.start_time.ToDatetime(tzinfo=UTC)
        if experiment.HasField("start_time")
        else None,
        "end_time": experiment.end_time.ToDatetime(tzinfo=UTC)
        if experiment.HasField("end_time")
        else None,
        "primary_metric": experiment.primary_metric,
        "guardrail_metrics": list(experiment.guardrail_metrics),
        "state": experiment.state,
        "salt": experiment.salt,
        "first_bucket": experiment.first_bucket,
        "bucket_count": experiment.bucket_count,
    }


@dataclass(frozen=True)
class ExposureRow:
    experiment: str
    profile: str
    variant: str
    surface: str
    forced: bool


@dataclass(frozen=True)
class ProfileOutcome:
    """One exposed profile of an experiment and what it did before and after."""

    variant: str
    first_exposure: datetime
    plays_after: int
    plays_pre: int
    seconds_after: float
    seconds_pre: float
    retained_7d: bool
    ttff_ms: float | None
    error_rate: float | None


def _changed(experiment: pb.Experiment, change: int, profile: str = "") -> ev.ExperimentChanged:
    return ev.ExperimentChanged(
        meta=new_meta("experiments"),
        experiment=experiment.name,
        layer=experiment.layer,
        change=change,  # type: ignore[arg-type]
        state=experiment.state,
        profile=profile,
    )


class PostgresExperimentsRepository:
    def __init__(self, engine: AsyncEngine, on_commit: Callable[[], None] = lambda: None) -> None:
        self._engine = engine
        self._on_commit = on_commit

    # -- experiments ----------------------------------------------------------------------------

    async def create(self, experiment_id: str, experiment: pb.Experiment) -> pb.Experiment:
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                row = (
                    await conn.execute(
                        t.experiments.insert()
                        .values(id=experiment_id, create_time=now, update_time=now)
                        .values(**_values(experiment))
                        .returning(*t.experiments.c)
                    )
                ).one()
                created = experiment_of(row)
                await enqueue(conn, _changed(created, ev.EXPERIMENT_CHANGE_CREATED))
        except IntegrityError as exc:
            raise AlreadyExists(
                f"experiments/{experiment_id} already exists", reason="EXPERIMENT_EXISTS"
            ) from exc
        return created

    async def get(self, experiment_id: str) -> pb.Experiment | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.experiments).where(t.experiments.c.id == experiment_id)
                )
            ).one_or_none()
        return experiment_of(row) if row is not None else None

    async def list(self, layer: str = "") -> list[pb.Experiment]:
        query = sa.select(t.experiments).order_by(t.experiments.c.seq.desc())
        if layer:
            query = query.where(t.experiments.c.layer == layer)
        async with self._engine.connect() as conn:
            return [experiment_of(row) for row in await conn.execute(query)]

    async def update(self, experiment_id: str, **values: Any) -> pb.Experiment:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    t.experiments.update()
                    .where(t.experiments.c.id == experiment_id)
                    .values(update_time=datetime.now(UTC), **values)
                    .returning(*t.experiments.c)
                )
            ).one()
            updated = experiment_of(row)
            await enqueue(conn, _changed(updated, ev.EXPERIMENT_CHANGE_STATE))
        return updated

    def wake_outbox(self) -> None:
        """Publish what the last writes enqueued now (the domain calls it once its own
        assignment cache has the change, so a surface reacting to the event reads the new
        assignments)."""
        self._on_commit()

    async def version(self) -> tuple[int, datetime | None]:
        """Changes since start (count, newest update), to refresh the assignment cache."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.max(t.experiments.c.update_time))
                )
            ).one()
            forced = (
                await conn.execute(sa.select(sa.func.count()).select_from(t.forced_variants))
            ).scalar_one()
        return int(row[0]) * 1_000_003 + int(forced), row[1]

    async def set_forced(self, experiment: pb.Experiment, profile: str, variant: str) -> None:
        experiment_id = experiment.name.removeprefix("experiments/")
        async with self._engine.begin() as conn:
            await enqueue(conn, _changed(experiment, ev.EXPERIMENT_CHANGE_FORCED, profile))
            if variant:
                statement = pg_insert(t.forced_variants).values(
                    experiment=experiment_id, profile=profile, variant=variant
                )
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[
                            t.forced_variants.c.experiment,
                            t.forced_variants.c.profile,
                        ],
                        set_={"variant": variant},
                    )
                )
            else:
                await conn.execute(
                    t.forced_variants.delete().where(
                        (t.forced_variants.c.experiment == experiment_id)
                        & (t.forced_variants.c.profile == profile)
                    )
                )

    async def forced(self) -> dict[tuple[str, str], str]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(t.forced_variants))
            return {(f"experiments/{r.experiment}", r.profile): r.variant for r in rows}

    # -- exposures ------------------------------------------------------------------------------

    async def record_exposures(
        self,
        response_id: str,
        region_code: str,
        rows: Sequence[tuple[ExposureRow, pb.Exposure]],
    ) -> int:
        """Log each (response, experiment) once, update the per-profile summary and enqueue the
        exposure events, in one transaction. Returns how many were new."""
        now = datetime.now(UTC)
        recorded = 0
        async with self._engine.begin() as conn:
            for row, exposure in rows:
                experiment_id = row.experiment.removeprefix("experiments/")
                new = (
                    await conn.execute(
                        pg_insert(t.exposure_log)
                        .values(
                            response_id=response_id,
                            experiment=experiment_id,
                            profile=row.profile,
                            variant=row.variant,
                            surface=row.surface,
                            forced=row.forced,
                            time=now,
                        )
                        .on_conflict_do_nothing()
                        .returning(t.exposure_log.c.response_id)
                    )
                ).scalar_one_or_none()
                if new is None:
                    continue
                recorded += 1
                summary = pg_insert(t.exposures).values(
                    experiment=experiment_id,
                    profile=row.profile,
                    variant=row.variant,
                    forced=row.forced,
                    first_time=now,
                    last_time=now,
                    count=1,
                )
                await conn.execute(
                    summary.on_conflict_do_update(
                        index_elements=[t.exposures.c.experiment, t.exposures.c.profile],
                        set_={"last_time": now, "count": t.exposures.c.count + 1},
                    )
                )
                await enqueue(
                    conn,
                    ev.ExperimentExposed(
                        meta=new_meta("experiments"),
                        profile=row.profile,
                        response_id=response_id,
                        surface=row.surface,
                        region_code=region_code,
                        exposure=exposure,
                    ),
                )
        if recorded:
            self._on_commit()
        return recorded

    async def exposure_counts(self, experiment_id: str) -> dict[str, tuple[int, int]]:
        """variant -> (exposed profiles, exposure records), QA overrides excluded."""
        async with self._engine.connect() as conn:
            profiles = await conn.execute(
                sa.select(t.exposures.c.variant, sa.func.count())
                .where((t.exposures.c.experiment == experiment_id) & ~t.exposures.c.forced)
                .group_by(t.exposures.c.variant)
            )
            records = await conn.execute(
                sa.select(t.exposure_log.c.variant, sa.func.count())
                .where((t.exposure_log.c.experiment == experiment_id) & ~t.exposure_log.c.forced)
                .group_by(t.exposure_log.c.variant)
            )
            by_profiles = {v: int(n) for v, n in profiles}
            by_records = {v: int(n) for v, n in records}
        return {v: (by_profiles.get(v, 0), by_records.get(v, 0)) for v in by_records}

    async def outcomes(self, experiment_id: str, now: datetime) -> builtins.list[ProfileOutcome]:
        e, p = t.exposures, t.plays
        after = p.c.start_time >= e.c.first_time
        before = (p.c.start_time < e.c.first_time) & (p.c.start_time >= e.c.first_time - PRE_PERIOD)
        query = (
            sa.select(
                e.c.variant,
                e.c.first_time,
                sa.func.count(p.c.session).filter(after).label("plays_after"),
                sa.func.count(p.c.session).filter(before).label("plays_pre"),
                sa.func.coalesce(sa.func.sum(p.c.watched_seconds).filter(after), 0).label("s_a"),
                sa.func.coalesce(sa.func.sum(p.c.watched_seconds).filter(before), 0).label("s_p"),
                sa.func.coalesce(
                    sa.func.bool_or(p.c.start_time >= e.c.first_time + timedelta(days=7)), False
                ).label("retained"),
                sa.func.avg(p.c.ttff_ms).filter(after & p.c.ttff_ms.is_not(None)).label("ttff"),
                sa.func.avg(sa.cast(p.c.errored, sa.Integer)).filter(after).label("errors"),
            )
            .select_from(e.outerjoin(p, p.c.profile == e.c.profile))
            .where((e.c.experiment == experiment_id) & ~e.c.forced)
            .where(sa.or_(p.c.start_time.is_(None), p.c.start_time <= now))
            .group_by(e.c.profile, e.c.variant, e.c.first_time)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [
                ProfileOutcome(
                    variant=r.variant,
                    first_exposure=r.first_time,
                    plays_after=int(r.plays_after),
                    plays_pre=int(r.plays_pre),
                    seconds_after=float(r.s_a),
                    seconds_pre=float(r.s_p),
                    retained_7d=bool(r.retained),
                    ttff_ms=float(r.ttff) if r.ttff is not None else None,
                    error_rate=float(r.errors) if r.errors is not None else None,
                )
                for r in rows
            ]

    async def totals(self) -> dict[str, int]:
        """Rows kept: plays and exposure records (for status and completeness checks)."""
        async with self._engine.connect() as conn:
            plays = (await conn.execute(sa.select(sa.func.count()).select_from(t.plays))).scalar()
            records = (
                await conn.execute(sa.select(sa.func.count()).select_from(t.exposure_log))
            ).scalar()
        return {"plays": int(plays or 0), "exposure_records": int(records or 0)}

    # -- plays (from playback and QoE events) ----------------------------------------------------

    async def play_started(
        self, session: str, profile: str, title: str, at: datetime, start_position_s: float
    ) -> None:
        statement = pg_insert(t.plays).values(
            session=session,
            profile=profile,
            title=title,
            start_time=at,
            start_position_s=start_position_s,
        )
        async with self._engine.begin() as conn:
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[t.plays.c.session],
                    set_={"start_time": at, "start_position_s": start_position_s},
                )
            )

    async def play_stopped(self, session: str, profile: str, title: str, position_s: float) -> None:
        statement = pg_insert(t.plays).values(
            session=session, profile=profile, title=title, watched_seconds=max(0.0, position_s)
        )
        watched = sa.func.greatest(0.0, position_s - t.plays.c.start_position_s)
        async with self._engine.begin() as conn:
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[t.plays.c.session], set_={"watched_seconds": watched}
                )
            )

    async def play_quality(
        self, session: str, profile: str, title: str, ttff_ms: float | None, errored: bool
    ) -> None:
        statement = pg_insert(t.plays).values(
            session=session, profile=profile, title=title, ttff_ms=ttff_ms, errored=errored
        )
        set_: dict[str, Any] = {"errored": t.plays.c.errored | errored}
        if ttff_ms is not None:
            set_["ttff_ms"] = sa.func.coalesce(t.plays.c.ttff_ms, ttff_ms)
        async with self._engine.begin() as conn:
            await conn.execute(
                statement.on_conflict_do_update(index_elements=[t.plays.c.session], set_=set_)
            )
