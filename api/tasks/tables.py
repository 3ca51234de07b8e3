"""SQL tables of tasks, the alerts each covers, and the actions recorded (epoch ms times)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from api.db import METADATA

tasks = Table(
    "tasks",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("assignee", String(128), nullable=False),
    Column("deadline", BigInteger, nullable=False),
    Column("priority", String(16), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("escalated_at", BigInteger, nullable=True),
    Column("closed_by", String(128), nullable=True),
    Column("closed_at", BigInteger, nullable=True),
    Column("conclusion", Text, nullable=True),
    Index("ix_tasks_assignee", "assignee", "status"),
)

task_alerts = Table(
    "task_alerts",
    METADATA,
    Column("task_id", Integer, ForeignKey("tasks.id"), primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), primary_key=True),
    Column("plant", String(64), nullable=False),
    Index("ix_task_alerts_plant", "plant"),
)

task_actions = Table(
    "task_actions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("tasks.id"), nullable=False, index=True),
    Column("actor", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON list of references
)
