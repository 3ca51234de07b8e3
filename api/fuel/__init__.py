"""The fuel core (SPEC section 6): every gas m³ and coal kg the service reports comes from here.

Module map (the shape of `api/alerts/`):

- `rules`    pure: register steps (counted / reset / implausible / silence), coverage,
             firm status, share, `firms_needed`, conversion facts. Literal-table tests.
- `outlook`  pure: the one year-end projection and the conversion candidates.
- `queries`  the fuel reads, as store requests (`ingest.kernel.reads`): the step rule as
             store aggregates over raw registers and rollups, freshness, rollup state.
- `service`  `FuelCore`: rules over queries -> KPI, usage, monthly history, projection.
- `rollup`   the job: hourly/daily rollups driven by `rollup_dirty` marks (`ingest.kernel.dirty`),
             so late data is re-rolled within one interval whatever its age.
"""
