"""Inspecting tokens: the pure schedule and observation rules, the stored outcome, and the sweep."""

from monitor.check.observe import Cadence, Observation, next_check_at
from monitor.check.sweep import CheckOutcome, Sweeper, SweepStats

__all__ = ["Cadence", "CheckOutcome", "Observation", "SweepStats", "Sweeper", "next_check_at"]
