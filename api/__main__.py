"""`python -m api`: the plantwatch HTTP service."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.auth import new_key
from api.settings import ApiSettings
from ingest.errors import PlantwatchError
from ingest.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m api",
        description="plantwatch API: coal-to-gas KPI, VOC compliance, alerts, HTTP push and the "
        "built-in dashboard. Configured by PLANTWATCH_* environment variables or .env (see README). "
        "Without PLANTWATCH_ADMIN_KEY an admin key is generated and printed at start.",
    )


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    settings = ApiSettings()
    setup_logging(settings.log_level, settings.log_json)
    if settings.admin_key is None:
        key = new_key()
        settings = settings.model_copy(update={"admin_key": SecretStr(key)})
        print(f"plantwatch admin key (generated for this run): {key}", flush=True)
    try:
        app = create_app(settings)
    except PlantwatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
