"""plantwatch ingest: wire schema, registry, InfluxDB store and MQTT collectors."""
