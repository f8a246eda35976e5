"""Telephony: the provider interface, the Twilio provider, and the built-in Twilio emulator."""
