"""Logging in and out, invite sign-up, roles, and authenticating sockets."""
