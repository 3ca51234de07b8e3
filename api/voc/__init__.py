"""VOC compliance (SPEC section 7).

rules    pure: readings -> minutes -> hour aggregates -> judged hours, emission, capture
queries  the VOC reads as store requests (raw readings, the logger's hours, `voc_hourly`)
service  rules over queries: compliance, emission totals, capture rates
rollup   the job writing `voc_hourly` (a given set of stack hours, or a range)
"""
