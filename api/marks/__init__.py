"""Plants mark their own data (SPEC section 14); officers accept or reject the marks.

- `model`   pure: marks as plain data, their validation, the error tree
- `rules`   pure: accepted marks to marked hours (the compliance core's input), the alert
            conditions a mark silences, the alerts a mark covers
- `tables`  the SQL table on `api.db.METADATA`
- `repo`    the SQL edge: create, list, review (each audited in the same transaction)
"""
