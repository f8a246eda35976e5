"""``python -m phonebank.telephony.emulator``: run the Twilio emulator (options in ``cli.py``).

Running this module has already imported ``phonebank`` (and with it Flask, ssl and threading),
too late for gevent's monkey-patching; so it re-executes Python with a bootstrap that patches
first and then runs the command line (same process id, so signals still reach it).
"""

import os
import sys

from phonebank.telephony.emulator.process import bootstrap_command, bootstrap_env

os.execve(sys.executable, bootstrap_command(sys.argv[1:]), bootstrap_env())
