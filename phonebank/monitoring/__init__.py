"""Live monitoring for call-centre leads: the dashboard and its pushes (docs/monitoring.md)."""
