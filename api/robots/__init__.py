"""Alert notifications to DingTalk and WeCom group robots, through the alert outbox.

Module map:
- `formats`  pure: DingTalk signing, robot URLs and payloads, reading a robot's answer
- `filters`  pure: which events a channel takes (kinds, plants, severity) and quiet hours
- `message`  pure: the Chinese text of an alert event (firm, value, limit, unit, link)
- `channel`  the outbox channel (`api.alerts.notify.Channel`) posting to one robot
"""
