"""Alerts of SPEC section 7 (docs/alerts.md).

model       keys, conditions, alerts, errors (plain data)
rules       pure: observations -> the conditions that hold now, one function per kind
lifecycle   pure: stored alerts + conditions + clock -> transitions (raise, reopen, resolve)
tables      SQLAlchemy Core tables on `api.db.METADATA`
repo        the SQL edge: alerts, events, the engine lease, delivery cursors
observe     the InfluxDB edge: what the rules need, queried with the compliance rules of api.voc
projection  the year-end gas-share projection provider (swappable)
engine      the background evaluator holding the lease
notify      outbox dispatchers: MQTT, InfluxDB `alert_event`, webhook
webhook     HMAC-SHA256 signing and verification of webhook deliveries
runtime     wiring from settings, started and stopped by the app lifespan
"""
