"""The monthly report officers hand upward (PDF and XLSX).

Module map:
- `data`    the one adapter that gathers a month's figures from the services (never recomputes)
- `content` pure: figures -> titled tables and headline numbers, in Chinese or English
- `texts`   the report's labels in zh/en
- `charts`  matplotlib figures (PNG bytes) from the content
- `pdf`     reportlab rendering, CJK font from Debian's packages
- `xlsx`    openpyxl rendering, one sheet per table
- `job`     the monthly job keeping the last reports on disk
"""
