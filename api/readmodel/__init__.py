"""The read model: rollups of raw readings that late data cannot break, and their cache.

One subsystem for every rolled-up domain (fuel today, VOC, power next):

- `state`: the one state schema, `readmodel_state` (tags `domain`, `level`; field
  `until_ms`): per domain the mark cursor, the hourly and daily watermarks and the
  generation, and `rollup_passes` (per pass that changed rollups: the earliest time it
  changed, for the cache).
- `plan`: pure segment planning (dirty marks -> contiguous runs of hours to re-roll).
- `job`: the one job loop (`ReadModelJob`) with the one mark lag (`ApiSettings.
  rollup_mark_lag_seconds`); it consumes the dirty marks (`ingest.kernel.dirty.dirty_runs`) of
  each domain's measurements and asks the domain to re-roll the hours they name.
- `cache`: the generation cache readers keep rolled-up answers in (`RollupCache`); one
  read serves the readers that need the same statement at once (`RollupCache.reading`).
- `blocks`: rollup rows read in fixed blocks and kept as arrays (`RowBlock`), summed
  over any stretch in process, so a moving window reads only the blocks its ends enter.

A domain (`job.Domain`) supplies only what is its own: the raw measurements it rolls
up, the hours a late write changes besides its own, and `roll` (its pure aggregator —
`api.fuel.rules.hourly_sums`, `api.voc.rules` stack aggregates — over the raw readings,
written in its row encoding).
"""
