"""Campaigns: settings, scripts, surveys, outcomes, calling hours and call lists."""
