"""Conversion records and manual entries officers keep (SPEC section 6), append-only.

Module map:
- `model`   pure: record kinds, validation, which records are current (not superseded)
- `rules`   pure: a firm's facts applied to its fuel totals (coal-free after a removal,
            manual coal deliveries)
- `tables`  the SQL table; `repo` its only reader and writer
- `manual`  a coal delivery as a reading flagged S, through the HTTP push path
"""
