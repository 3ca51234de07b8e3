"""The alert engine: evaluates every rule against InfluxDB on a timer, while it holds the lease.

Several API processes may run; each starts an engine, and the SQL lease lets exactly one
evaluate at a time. A leader that stops cleanly releases the lease; one that dies leaves it
to expire (`alert_lease_seconds`), after which another takes over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from api.alerts import observe, rules
from api.alerts.lifecycle import Policy, plan
from api.alerts.model import (
    COAL_AFTER_CONVERSION,
    GAS_SHARE_OFF_TRACK,
    INGEST_STALLED,
    LOGGER_AUTH_FAILURES,
    LOGGER_CLOCK_DRIFT,
    METER_OFFLINE,
    READING_REVISED,
    SENSOR_STUCK,
    TASK_OVERDUE,
    TREATMENT_NOT_RUNNING,
    VOC_DARK_AFTER_EXCEEDANCE,
    VOC_HOURLY_EXCEEDANCE,
    VOC_LATE_EXCEEDANCE,
    VOC_SPIKE,
    Alert,
    AlertKey,
    Condition,
    LeaseLost,
    county_alert_plant,
    to_ms,
)
from api.alerts.projection import ProjectionProvider
from api.alerts.repo import AlertRepo
from api.fuel.rules import classify, kept_by_hand
from api.fuel.service import FuelCore
from api.marks.rules import unmarked
from api.power.service import PowerCore, lines_of
from api.presence import latest_seen
from api.settings import AlertRules
from api.voc.queries import first_arrivals
from api.voc.rules import FLOW_FIELD, StackCompliance
from ingest.kernel.errors import StoreError
from ingest.kernel.registry import Registry
from ingest.kernel.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Evaluator:
    """Runs the rules against the store; a kind whose query fails is reported as not evaluated."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        alert_rules: AlertRules,
        fuel: FuelCore,
        projection: ProjectionProvider,
        timezone: str = rules.LOCAL_TIMEZONE,
        power: PowerCore | None = None,
        cover: Callable[[datetime], list[Alert]] | None = None,
        marks: observe.Marks = None,
        overdue: Callable[[datetime], list[Condition]] | None = None,
    ) -> None:
        self.store, self.registry, self.rules, self.fuel = store, registry, alert_rules, fuel
        self.power = power or PowerCore(store)
        self.lines = lines_of(registry.plants)
        self.timezone = timezone
        self.projection = projection
        # Exceedance alerts seen since an instant (AlertRepo.seen_since): what late ones skip.
        self.cover = cover
        # Accepted marks (api.marks): their hours are not judged, their meters raise nothing.
        self.marks = marks
        # Open tasks past their deadline as `task_overdue` conditions (api.tasks): escalation.
        self.overdue = overdue
        self.limits = observe.stack_limits(registry)
        self.pollutants = sorted({p for limits in self.limits.values() for p in limits})
        self.meters = observe.meter_refs(registry)
        self.voc_meters = {(p, m) for p, m in self.limits}
        # When each stack was first heard (api.voc.queries.first_arrivals): it never moves
        # once known, so it is read once per stack, until the stack has been heard.
        self.first_heard: dict[tuple[str, str], int] = {}
        self.state = rules.IngestState(rules.NORMAL, len(self.meters), 0, True, None)

    def fast(
        self, now: datetime, open_keys: Collection[AlertKey] = ()
    ) -> tuple[list[Condition], set[str]]:
        """The minute-scale kinds: spikes, hourly exceedances, offline meters, stuck sensors.

        `open_keys` are the active alerts: an open exceedance stays open while no valid hour
        comes (only valid hours under the limit resolve it).
        """
        found: list[Condition] = []
        done: set[str] = set()
        r = self.rules
        tz = self.timezone
        hours: list[StackCompliance] = []

        def recent() -> list[StackCompliance]:
            if not hours:
                hours.extend(
                    observe.recent_hours(
                        self.store, self.registry, now, r.hourly_lookback_hours, self.marks
                    )
                )
            return hours

        checks: list[tuple[str, Callable[[], list[Condition]]]] = [
            (
                VOC_SPIKE,
                lambda: rules.spikes(
                    observe.peaks(
                        self.store,
                        self.pollutants,
                        now,
                        timedelta(minutes=r.spike_lookback_minutes),
                    ),
                    self.limits,
                    r.spike_factor,
                    tz,
                ),
            ),
            (
                VOC_HOURLY_EXCEEDANCE,
                lambda: rules.hourly_exceedances(recent(), open_keys, tz),
            ),
            (
                VOC_DARK_AFTER_EXCEEDANCE,
                lambda: rules.dark_after_exceedance(recent(), open_keys, tz),
            ),
            (
                LOGGER_CLOCK_DRIFT,
                lambda: rules.clock_drift(
                    observe.clock_checks(
                        self.store, now, timedelta(hours=r.clock_drift_lookback_hours)
                    )
                ),
            ),
            (
                LOGGER_AUTH_FAILURES,
                lambda: rules.auth_failures(
                    observe.auth_lockouts(
                        self.store, now, timedelta(hours=r.auth_failures_lookback_hours)
                    )
                ),
            ),
            (
                SENSOR_STUCK,
                lambda: rules.stuck_sensors(
                    observe.raw_series(
                        self.store,
                        self.pollutants,
                        now,
                        timedelta(minutes=r.stuck_minutes + STUCK_MARGIN_MINUTES),
                    ),
                    [*self.pollutants, FLOW_FIELD],
                    r,
                ),
            ),
        ]
        if not self.voc_meters:
            checks = []
            done |= {
                VOC_SPIKE,
                VOC_HOURLY_EXCEEDANCE,
                VOC_DARK_AFTER_EXCEEDANCE,
                SENSOR_STUCK,
                LOGGER_CLOCK_DRIFT,
                LOGGER_AUTH_FAILURES,
            }
        if self.lines:
            checks.append(
                (
                    TREATMENT_NOT_RUNNING,
                    lambda: rules.treatment_not_running(
                        self.power.lines(self.lines, now - POWER_LOOKBACK, now, now), now
                    ),
                )
            )
        else:
            done.add(TREATMENT_NOT_RUNNING)
        try:
            offline, self.state = self._offline(now)
            if not self.state.quiet_offline:
                found += offline
                done.add(METER_OFFLINE)
            found += rules.ingest_stalled(self.state)
            done.add(INGEST_STALLED)
        except StoreError as exc:
            log.warning(
                "alert rule not evaluated", extra={"kind": METER_OFFLINE, "error": str(exc)}
            )
        try:
            # Every meter kind: fuel registers are revised as VOC readings are.
            lookback = timedelta(hours=r.revision_lookback_hours)
            registered = {(m.plant, m.meter) for m in self.meters}
            found += [
                c
                for c in rules.revised_readings(
                    observe.pending_revisions(self.store, now, lookback)
                )
                if (c.key.plant, c.key.meter) in registered
            ]
            done.add(READING_REVISED)
        except StoreError as exc:
            log.warning(
                "alert rule not evaluated", extra={"kind": READING_REVISED, "error": str(exc)}
            )
        for kind, check in checks:
            try:
                found += self._registered(check())
                done.add(kind)
            except StoreError as exc:
                log.warning("alert rule not evaluated", extra={"kind": kind, "error": str(exc)})
        if self.marks is not None:
            found = unmarked(found, self.marks(now, now + timedelta(milliseconds=1)), now)
        if self.state.state == rules.LOADING:
            # Found in data that is still arriving late: said so, never passed off as news.
            found = [replace(c, late=True) for c in found]
        if self.overdue is not None:
            # A deadline passes whatever the data: never marked late, never marked away.
            found += self.overdue(now)
            done.add(TASK_OVERDUE)
        return found, done

    def _offline(self, now: datetime) -> tuple[list[Condition], rules.IngestState]:
        """Per-meter offline conditions, and whether their number means loading or an outage."""
        r = self.rules
        # A meter kept by hand (coal deliveries entered by officers) is silent between entries.
        by_hand = kept_by_hand(self.fuel.conversions)
        meters = [m for m in self.meters if (m.plant, m.meter) not in by_hand]
        latest = latest_seen(
            self.store,
            {m.kind for m in meters},
            now,
            timedelta(hours=r.offline_lookback_hours),
        )
        seen = {key: s.at for key, s in latest.items()}
        arrived = {key: s.arrived for key, s in latest.items()}
        offline = rules.offline(meters, seen, now, r, self.timezone, arrived)
        flowing = observe.points_flowing(self.store, now, timedelta(minutes=r.flowing_minutes))
        through = max(seen.values(), default=None)
        state = rules.ingest_state(len(offline), len(meters), flowing, through, r, now)
        return offline, state

    def slow(self, now: datetime) -> tuple[list[Condition], set[str]]:
        """The KPI-based kinds: coal after conversion, gas share off track.

        Not evaluated while data is loading or stalled: a KPI over half-loaded windows
        would raise (and later resolve) alerts about nothing but the loading.
        """
        found: list[Condition] = []
        done: set[str] = set()
        if self.state.state != rules.NORMAL:
            return found, done
        try:
            found += self._coal_after_conversion(now)
            done.add(COAL_AFTER_CONVERSION)
        except StoreError as exc:
            log.warning(
                "alert rule not evaluated", extra={"kind": COAL_AFTER_CONVERSION, "error": str(exc)}
            )
        if self.voc_meters and self.cover is not None:
            try:
                found += self._registered(self._late_exceedances(now))
                done.add(VOC_LATE_EXCEEDANCE)
            except StoreError as exc:
                log.warning(
                    "alert rule not evaluated",
                    extra={"kind": VOC_LATE_EXCEEDANCE, "error": str(exc)},
                )
        try:
            found += self._off_track(now)
            done.add(GAS_SHARE_OFF_TRACK)
        except StoreError as exc:
            log.warning(
                "alert rule not evaluated", extra={"kind": GAS_SHARE_OFF_TRACK, "error": str(exc)}
            )
        return found, done

    def _off_track(self, now: datetime) -> list[Condition]:
        """`gas_share_off_track` of the county; of each county, against its own goal, when
        the registry names several (counties as tenants: a county's officers see theirs)."""
        if len(self.registry.counties) == 1:
            projected = self.projection.projected_share(now)
            return rules.gas_share_off_track(projected, self.registry.gas_share_goal)
        found: list[Condition] = []
        for county in self.registry.counties:
            view = self.registry.scoped(county.id)
            projected = self.projection.projected_share(now, view.by_sector("stainless_steel"))
            where = county_alert_plant(county.id)
            found += rules.gas_share_off_track(projected, county.gas_share_goal, where)
        return found

    def _late_exceedances(self, now: datetime) -> list[Condition]:
        """Exceeding hours before the live look-back that back-filled data revealed."""
        assert self.cover is not None
        r = self.rules
        live_from = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
            hours=r.hourly_lookback_hours
        )
        start = live_from - timedelta(hours=r.late_exceedance_lookback_hours)
        stacks = observe.past_hours(self.store, self.registry, start, live_from, now, self.marks)
        unheard = sorted({s.plant for s in stacks if (s.plant, s.meter) not in self.first_heard})
        if unheard:
            self.first_heard.update(first_arrivals(self.store, unheard))
        cover = rules.exceedance_cover(self.cover(start))
        return rules.late_exceedances(
            stacks, cover, to_ms(live_from), self.timezone, self.first_heard
        )

    def _coal_after_conversion(self, now: datetime) -> list[Condition]:
        firms = self.registry.by_sector("stainless_steel")
        if not firms:
            return []
        recent = timedelta(hours=self.rules.coal_window_hours)
        window = timedelta(days=self.fuel.definition.window_days)
        # Status over the KPI window *before* the recent hours, so the coal being burnt now
        # cannot itself turn a gas firm into "mixed" and hide the alert.
        before, _ = self.fuel.firm_fuels(firms, now - recent - window, now - recent)
        trailing = [classify(f, self.fuel.definition) for f in before]
        latest, _ = self.fuel.firm_fuels(firms, now - recent, now)
        lately = {f.plant: classify(f, self.fuel.definition) for f in latest}
        return rules.coal_after_conversion(trailing, lately, self.rules)

    def _registered(self, conditions: Sequence[Condition]) -> list[Condition]:
        """Only meters in the registry raise VOC alerts (stale series of removed stacks do not)."""
        return [
            c
            for c in conditions
            if c.key.kind in (METER_OFFLINE, INGEST_STALLED, TREATMENT_NOT_RUNNING)
            or (c.key.plant, c.key.meter) in self.voc_meters
        ]


STUCK_MARGIN_MINUTES = 10.0
# The treatment rule looks at the quarter hours of the last few hours (`since` of a run).
POWER_LOOKBACK = timedelta(hours=6)


class AlertEngine:
    """Evaluate, plan and apply on a timer while holding the lease."""

    def __init__(
        self,
        repo: AlertRepo,
        evaluator: Evaluator,
        policy: Policy,
        *,
        holder: str,
        interval_seconds: float,
        kpi_interval_seconds: float,
        lease_seconds: float,
        clock: Clock = utc_now,
        on_events: Callable[[list[int]], None] | None = None,
    ) -> None:
        self.repo, self.evaluator, self.policy = repo, evaluator, policy
        self.holder = holder
        self.interval_seconds = interval_seconds
        self.kpi_interval = timedelta(seconds=kpi_interval_seconds)
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.on_events = on_events
        self._pending: dict[AlertKey, int] = {}
        self._kpi_at: datetime | None = None
        self._leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.evaluations = 0

    @property
    def is_leader(self) -> bool:
        return self._leader

    def tick(self) -> list[int]:
        """One evaluation if this engine holds (or can take) the lease; returns new event ids."""
        now = self.clock()
        if not self.repo.try_lease(self.holder, now, self.lease_seconds):
            if self._leader:
                log.info("alert engine lost the lease", extra={"holder": self.holder})
            self._leader = False
            self._pending.clear()
            return []
        if not self._leader:
            log.info("alert engine took the lease", extra={"holder": self.holder})
        self._leader = True
        latest = self.repo.latest_by_key()
        open_keys = {k for k, a in latest.items() if a.active}
        conditions, evaluated = self.evaluator.fast(now, open_keys)
        if self._kpi_at is None or now - self._kpi_at >= self.kpi_interval:
            more, kpi_done = self.evaluator.slow(now)
            conditions += more
            evaluated |= kpi_done
            if kpi_done:
                self._kpi_at = now
        result = plan(
            latest,
            self._pending,
            {c.key: c for c in conditions},
            evaluated,
            now,
            self.policy,
        )
        try:
            events = self.repo.apply(result, now, self.holder, self.lease_seconds)
        except LeaseLost:
            log.warning("alert engine lost the lease mid-evaluation", extra={"holder": self.holder})
            self._leader = False
            self._pending.clear()
            return []
        self._pending = dict(result.pending)
        self.evaluations += 1
        if events and self.on_events is not None:
            self.on_events(events)
        return events

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop evaluating and release the lease so another engine takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._leader:
            try:
                self.repo.release_lease(self.holder)
            except Exception:
                log.exception("could not release the alert engine lease")
        self._leader = False

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            started = time.monotonic()
            try:
                self.tick()
            except Exception:
                # A bug or an unreachable database must never kill the engine thread.
                log.exception("alert evaluation failed")
            delay = max(0.0, self.interval_seconds - (time.monotonic() - started))
