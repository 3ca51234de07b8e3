"""Power monitoring of production lines and treatment facilities (SPEC section 13).

rules     pure: 15-minute mean power, rated power learned, producing / not running, periods
queries   the InfluxDB edge: 15-minute means of `power_kw`, raw `energy_kwh` where needed
service   lines of a plant or the county over a window, ratings cached per meter
"""
