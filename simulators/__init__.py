"""plantwatch simulators: plant meters that stand in for the county's firms."""
