"""The built-in Twilio emulator: Twilio's Voice REST API (Calls, Conferences, Participants) for
development, tests and benchmarks, driven through the real twilio SDK. See docs/twilio-emulator.md.

Importing this package does not import gevent: the emulator runs in its own process
(``python -m phonebank.telephony.emulator``, or ``EmulatorProcess`` from tests and scripts).
"""

from .process import EmulatorControl, EmulatorError, EmulatorProcess

__all__ = ["EmulatorControl", "EmulatorError", "EmulatorProcess"]
