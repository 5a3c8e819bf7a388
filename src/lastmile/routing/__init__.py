"""Route planning: travel times, the solver engine and route plans."""
