"""The organisation-wide do-not-call list, for staff: search, add, remove with a reason, export."""
