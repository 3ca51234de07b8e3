"""The machine a run was measured on: CPU, memory, kernel, load and software versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _proc_value(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def describe() -> dict[str, Any]:
    """Everything needed to compare two runs' figures."""
    mem_kb = _proc_value("/proc/meminfo", "MemTotal").split()[0]
    return {
        "cpu_model": _proc_value("/proc/cpuinfo", "model name"),
        "cpu_cores": os.cpu_count(),
        "memory_gib": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "paho_mqtt": _version("paho-mqtt"),
        "httpx": _version("httpx"),
        "mosquitto": _first_line([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"]),
        "influxd": _first_line(["influxd", "version"]),
        "git_commit": _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "load_average_at_start": load_average(),
    }
