"""What the API tests share that is not a fixture: the admin key the app is built with."""

from __future__ import annotations

ADMIN_KEY = "test-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
