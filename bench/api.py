"""The API benchmark: read latency at a fixed request rate, change-feed delivery throughput,
and what the outbox adds to a call's write.

Creates and migrates a PostgreSQL database, seeds ``--people`` people (SQL, in bulk), makes an
API key and starts the production server (``gunicorn -k gevent -w 1``). Then:

1. **Reads**: an open-loop load of ``--rate`` requests a second for ``--seconds`` seconds, first
   of ``GET /api/v1/people/<random id>``, then of ``GET /api/v1/people?limit=100&after=<random>``.
   Latency is measured from each request's *scheduled* time, so a slow server is not hidden by
   the client waiting for it (no coordinated omission).
2. **Feed**: ``--events`` change events are written, a webhook subscription is replayed from 0
   to a local receiver, and the webhook worker (``flask webhooks worker``, its own process) is
   timed until the receiver has every event.
3. **Outbox cost**: ``--writes`` store transactions like a call's (the call's history entry, a
   tag, a flag), timed in this process with the change feed's ``before_commit`` hook and
   without it; the difference per transaction is what the outbox adds.

    .venv/bin/python bench/api.py
    .venv/bin/python bench/api.py --rate 400 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import env_for as results_env_for  # noqa: E402  (bench/results.py)
from results import start_server as results_start_server  # noqa: E402

OUT_DIR = REPO_ROOT / "bench" / "out"
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
READ_P99_TARGET_MS = 100.0
FEED_TARGET = 1000.0
OUTBOX_TARGET_MS = 1.0


def log(message: str) -> None:
    print(f"[api bench] {message}", file=sys.stderr, flush=True)


# The production server's settings, and how it is started, as in the results benchmark.
SERVER_ENV = {"PHONEBANK_DB_POOL_SIZE": "20"}


def env_for(url: str, secret: str, port: int | None = None) -> dict[str, str]:
    return results_env_for(url, secret, port, **SERVER_ENV)


SEED = """
insert into people (first_name, last_name, do_not_call, do_not_email, deceased, moved,
  created_at, updated_at, version)
select 'P' || g, 'Bench', false, false, false, false, now(), now(), 1
from generate_series(1, :people) g;
insert into phones (person_id, number, type, status, time_zones, source, created_at, updated_at)
select id, '+1212' || lpad((5550000 + id)::text, 7, '0'), 'mobile', 'ok', 'America/New_York',
  '', now(), now()
from people;
insert into emails (person_id, address, status, source, created_at, updated_at)
select id, 'p' || id || '@bench.test', 'subscribed', '', now(), now() from people;
insert into external_ids (person_id, system, value) select id, 'van', 'V' || id from people;
"""


def app_for(url: str, secret: str):
    from phonebank import create_app

    return create_app(
        {"ENV_NAME": "production", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret,
         "PUBLIC_URL": "http://127.0.0.1"}
    )  # fmt: skip


def start_server(url: str, secret: str) -> tuple[subprocess.Popen, int]:
    return results_start_server(url, secret, "api-gunicorn.log", **SERVER_ENV)


def open_loop(base: str, token: str, paths, rate: float, seconds: float) -> dict:
    """``rate`` requests a second on a fixed schedule; latency from the scheduled time."""
    local = threading.local()
    count = int(rate * seconds)
    start = time.monotonic() + 0.5
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            status = session.get(base + paths(), timeout=30).status_code
        except requests.RequestException:
            status = 0
        with lock:
            results.append(((time.monotonic() - due) * 1000, status))

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(one, range(count)))
    latencies = sorted(ms for ms, _ in results)
    errors = sum(1 for _, status in results if status != 200)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return {
        "requests": count,
        "errors": errors,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1], 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


class Sink:
    """A local receiver that accepts everything and counts distinct events."""

    def __init__(self):
        self.ids: set[int] = set()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                events = json.loads(body)["events"]
                with sink.lock:
                    sink.ids.update(e["id"] for e in events)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def feed_throughput(url: str, secret: str, events: int) -> dict:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into change_events (type, occurred_at, person_id, data) "
                "select 'person.updated', now(), 1 + g % 1000, "
                '\'{"changes": ["name"]}\'::jsonb from generate_series(1, :n) g'
            ),
            {"n": events},
        )
    engine.dispose()
    sink = Sink()
    app = app_for(url, secret)
    with app.app_context():
        from phonebank.api import webhooks
        from phonebank.extensions import db

        subscription = webhooks.create_subscription("Bench", sink.url, [], by=None)
        subscription.delivered_position = 0
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    started = time.monotonic()
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "phonebank.wsgi", "webhooks", "worker"],
        cwd=REPO_ROOT, env=env_for(url, secret), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        last, since = 0, time.monotonic()
        while True:
            with sink.lock:
                got = len(sink.ids)
            if got >= events:
                break
            if got != last:
                last, since = got, time.monotonic()
            elif time.monotonic() - since > 60:
                raise RuntimeError(f"feed delivery stalled at {got} of {events}")
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        sink.server.shutdown()
    return {"events": events, "seconds": round(seconds, 2), "per_s": round(events / seconds)}


def outbox_cost(url: str, secret: str, writes: int) -> dict:
    """A call's store writes per transaction, with and without the outbox hook."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    app = app_for(url, secret)
    with app.app_context():
        from phonebank.extensions import db
        from phonebank.models import Person
        from phonebank.supporters import changes
        from phonebank.supporters import services as supporters

        people = list(db.session.scalars(db.select(Person).order_by(Person.id).limit(writes)))
        db.session.commit()

        def run(batch: list[Person], tag: str) -> float:
            began = time.perf_counter()
            for person in batch:
                supporters.record_activity(
                    person, kind="call", module="calling", payload={"outcome": "talked"}
                )
                supporters.tag_person(person, tag)
                supporters.set_person_flags(person, module="calling", moved=True)
                db.session.commit()
            return (time.perf_counter() - began) * 1000 / len(batch)

        random.shuffle(people)
        run(people[:50], "warm")  # connections, caches
        timings: dict[bool, list[float]] = {True: [], False: []}
        rest = people[50:]
        for block in range(0, len(rest), 50):  # alternate, so drift hits both alike
            hooked = block % 100 == 0
            if not hooked:
                event.remove(Session, "before_commit", changes._before_commit)
            try:
                timings[hooked].append(run(rest[block : block + 50], f"t{block}"))
            finally:
                if not hooked:
                    event.listen(Session, "before_commit", changes._before_commit)
        with_hook = statistics.median(timings[True])
        without = statistics.median(timings[False])
        db.session.remove()
        db.engine.dispose()
    return {
        "transactions": len(people) - 50,
        "blocks": {"with": len(timings[True]), "without": len(timings[False])},
        "with_outbox_ms": round(with_hook, 3),
        "without_ms": round(without, 3),
        "outbox_ms": round(with_hook - without, 3),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="per read phase")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--database-url", default=ADMIN_URL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    name = f"phonebank_api_bench_{secrets.token_hex(4)}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
    secret = secrets.token_urlsafe(48)
    server = None
    try:
        migrated = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "phonebank.wsgi", "db", "upgrade"],
            cwd=REPO_ROOT, env=env_for(url, secret), capture_output=True, text=True,
        )  # fmt: skip
        if migrated.returncode:
            raise RuntimeError(migrated.stderr[-3000:])
        engine = create_engine(url)
        with engine.begin() as conn:
            for statement in SEED.split(";"):
                if statement.strip():
                    conn.execute(text(statement), {"people": args.people})
            conn.execute(text("analyze"))
            low, high = conn.execute(text("select min(id), max(id) from people")).one()
        engine.dispose()
        log(f"seeded {args.people:,} people")
        app = app_for(url, secret)
        with app.app_context():
            from phonebank.api import keys
            from phonebank.extensions import db

            _, token = keys.create_key("Bench", ["people:read"], by=None, rate_per_minute=100_000)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        server, port = start_server(url, secret)
        base = f"http://127.0.0.1:{port}/api/v1"
        report = {"people": args.people, "rate": args.rate, "seconds": args.seconds}
        log("reads: one person")
        report["get_person"] = open_loop(
            base, token, lambda: f"/people/{random.randint(low, high)}", args.rate, args.seconds
        )
        log("reads: a page of 100")
        report["page_of_100"] = open_loop(
            base,
            token,
            lambda: f"/people?limit=100&after={random.randint(low, high - 200)}",
            args.rate,
            args.seconds,
        )
        server.terminate()
        server.wait(timeout=20)
        server = None
        log("feed delivery")
        report["feed"] = feed_throughput(url, secret, args.events)
        log("outbox cost")
        report["outbox"] = outbox_cost(url, secret, args.writes)
        report["targets"] = {
            f"GET /people/<id> p99 ≤ {READ_P99_TARGET_MS:.0f} ms at {args.rate:.0f}/s":
                report["get_person"]["p99_ms"] <= READ_P99_TARGET_MS
                and not report["get_person"]["errors"],
            f"page of 100 p99 ≤ {READ_P99_TARGET_MS:.0f} ms at {args.rate:.0f}/s":
                report["page_of_100"]["p99_ms"] <= READ_P99_TARGET_MS
                and not report["page_of_100"]["errors"],
            f"feed ≥ {FEED_TARGET:.0f} events/s": report["feed"]["per_s"] >= FEED_TARGET,
            f"outbox < {OUTBOX_TARGET_MS:.0f} ms per write":
                report["outbox"]["outbox_ms"] < OUTBOX_TARGET_MS,
        }  # fmt: skip
        print(json.dumps(report, indent=2) if args.json else render(report))
        return 0 if all(report["targets"].values()) else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def render(report: dict) -> str:
    lines = [
        f"API benchmark: {report['people']:,} people, "
        f"{report['rate']:.0f} requests/s for {report['seconds']:.0f} s per read phase",
        "",
        "reads (latency from the scheduled send time):",
    ]
    for name in ("get_person", "page_of_100"):
        r = report[name]
        lines.append(
            f"  {name:12} p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  "
            f"max {r['max_ms']} ms  ({r['requests']:,} requests, {r['errors']} errors)"
        )
    feed, outbox = report["feed"], report["outbox"]
    lines += [
        "",
        f"feed: {feed['events']:,} events delivered in {feed['seconds']} s = "
        f"{feed['per_s']:,} events/s",
        f"outbox: {outbox['with_outbox_ms']} ms per call-like write with it, "
        f"{outbox['without_ms']} ms without: {outbox['outbox_ms']} ms "
        f"({outbox['transactions']:,} transactions)",
        "",
    ]
    lines += [f"  {'met' if ok else 'NOT met'}: {name}" for name, ok in report["targets"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
