"""The volunteer calling loop: queue, sessions, dialing, outcomes, and the calling page."""
