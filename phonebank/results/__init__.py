"""Results out: figures, tallies, exports and the do-not-call list, for staff and leads."""
