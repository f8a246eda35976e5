"""The emulator's command line; run it as ``python -m phonebank.telephony.emulator``.

Only ever imported after gevent's monkey-patching (see ``__main__``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer

from .engine import Emulator
from .server import create_app

logger = logging.getLogger("phonebank.telephony.emulator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m phonebank.telephony.emulator",
        description="A local stand-in for Twilio's Voice REST API that plays calls out and posts "
        "signed webhooks back to the app.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5050, help="0 picks a free port")
    parser.add_argument("--account-sid", required=True, help="the AC... SID clients must use")
    parser.add_argument("--auth-token", required=True, help="its auth token (signs webhooks)")
    parser.add_argument("--api-key", help="an SK... API key SID accepted for REST and tokens")
    parser.add_argument("--api-secret", help="that API key's secret")
    parser.add_argument(
        "--twiml-app-voice-url",
        help="voice URL of the TwiML App that browser (client) legs run, unless configured "
        "per application through /_emulator/applications",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="time compression: simulated call time runs this many times faster than the wall "
        "clock (20: a 33 s call takes 1.65 s); reported durations stay in simulated seconds",
    )
    parser.add_argument("--seed", type=int, help="make callee outcomes and faults repeatable")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    parser.add_argument("--log-limit", type=int, default=200_000, help="entries kept in the log")
    parser.add_argument(
        "--max-finished-calls", type=int, default=100_000, help="finished calls kept in memory"
    )
    parser.add_argument(
        "--webhook-timeout", type=float, default=15.0, help="seconds to wait for the app"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.api_key) != bool(args.api_secret):
        build_parser().error("--api-key and --api-secret go together")
    if args.speed <= 0:
        build_parser().error("--speed must be positive")
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    emulator = Emulator(
        args.account_sid,
        args.auth_token,
        api_keys={args.api_key: args.api_secret} if args.api_key else {},
        twiml_app_voice_url=args.twiml_app_voice_url,
        speed=args.speed,
        seed=args.seed,
        log_limit=args.log_limit,
        max_finished_calls=args.max_finished_calls,
        webhook_timeout=args.webhook_timeout,
    )
    server = WSGIServer(
        (args.host, args.port),
        create_app(emulator),
        log=logger if args.access_log else None,
        error_log=logger,
        backlog=2048,
    )
    server.start()
    host, port = server.address[:2]
    print(  # noqa: T201 - the one line scripts wait for
        f"Twilio emulator listening on http://{host}:{port} "
        f"(account {args.account_sid}, speed {args.speed:g}x)",
        flush=True,
    )
    stopping = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stopping.set)
    gevent.signal_handler(signal.SIGINT, stopping.set)
    stopping.wait()
    server.stop(timeout=2)
    emulator.shutdown()
    return 0
