"""The ingest kernel: what every process (collector, gateway, API, simulators) builds on.

The plant registry and the catalogue of names, the reading schema and time, line protocol,
the store interface with its engines (InfluxDB 1.x, ClickHouse), the HJ 212 codec (2017 and
2025 with SM4), the message pipeline, the record, dirty marks and errors. Nothing here
opens a socket of its own, starts a thread or imports a process module
(`tests/ingest/test_imports.py`); the processes sit beside it: `ingest.collector` (with
`spool`, `replay`, `keeper`, `partition`), `ingest.gateway`, `ingest.client`.
"""
