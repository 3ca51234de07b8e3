"""`python -m dashboards`: write the Grafana dashboard JSON from `dashboards.grafana_boards`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashboards.grafana_boards import BOARDS
from dashboards.grafana_kit import localize
from ingest.settings import CommonSettings

BOARDS_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"


def render(builder_name: str, timezone: str | None = None) -> str:
    """The JSON text of one dashboard in `timezone` (default: the settings'), as committed."""
    zone = timezone or CommonSettings().timezone
    board = localize(BOARDS[builder_name](), zone)
    return json.dumps(board, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboards",
        description="Regenerate the Grafana dashboards in dashboards/grafana/dashboards/ from "
        "their Python definitions (dashboards/grafana_boards.py).",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed file differs, write nothing"
    )
    parser.add_argument(
        "--timezone",
        help="IANA zone of the dashboards and their daily buckets "
        "(default PLANTWATCH_TIMEZONE, Asia/Shanghai)",
    )
    args = parser.parse_args(argv)
    stale = []
    BOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name in BOARDS:
        path = BOARDS_DIR / name
        text = render(name, args.timezone)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run python -m dashboards", file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote {BOARDS_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
