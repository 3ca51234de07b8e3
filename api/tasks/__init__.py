"""Dispositions of alerts (SPEC section 14): 预警 → 派单 → 处置 → 反馈 → 办结.

An officer turns alerts into a task for a named assignee with a deadline and priority; the
assignee (role `inspector`: its own tasks only) records actions with evidence; the officer
closes it with a conclusion; an open task past its deadline escalates as a `task_overdue`
alert (so the officer's list, MQTT, webhooks and the robot channels all carry it).

- `model`   pure: tasks and actions as plain data, validation, who may see and act, errors
- `rules`   pure: overdue tasks as alert conditions, the month's counts for the report
- `tables`  SQL tables on `api.db.METADATA`
- `repo`    the SQL edge (every change audited in its transaction)
"""
