"""plantwatch API: KPIs, alerts, HTTP push and the built-in dashboard (FastAPI)."""
