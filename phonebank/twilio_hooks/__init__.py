"""Twilio's webhooks: TwiML for call legs and call-progress callbacks, all signature-checked."""
