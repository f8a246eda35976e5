"""N simulated volunteers working a power-dialing campaign against the Twilio emulator.

Everything runs through the real code path: a real ``gunicorn -k gevent -w 1`` server process,
the built-in Twilio emulator as a second process (compressed call timings), PostgreSQL, and one
real python-socketio client per volunteer (``socketio.AsyncClient`` on aiohttp, all in one
asyncio loop in this process). See bench/README.md for what is measured and how.

    .venv/bin/python bench/volunteers.py                       # 500 volunteers, 100,000 people
    .venv/bin/python bench/volunteers.py --volunteers 20 --people 2000 --duration 30

The benchmark creates its own database (``phonebank_bench_<random>``) on the PostgreSQL server
named by ``--database-url`` and drops it afterwards unless ``--keep`` is given. Processes it
starts are stopped on exit, on Ctrl+C and on SIGTERM (and get SIGTERM if this process dies).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import random
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
USER_AGENT = "phonebank-bench/1.0 (simulated volunteer)"
PASSWORD = "bench-password-not-secret"
CALLER_ID = "+12025550100"

# Emulator credentials (any values of the right shape; the server gets the same ones).
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-" + "0" * 16
API_KEY = "SK" + "c" * 32
API_SECRET = "bench-api-secret-" + "1" * 24
TWIML_APP_SID = "AP" + "d" * 32

# Time zones the campaign's people can live in, with a US state (or "" outside the US). One in
# which it is now between 08:00 and 21:00 (with a margin) is picked at run time. States with
# stricter rules (KY, RI, AL, LA, MS, FL, OK) are avoided on purpose.
ZONES = [
    ("America/New_York", "NY"),
    ("America/Chicago", "IL"),
    ("America/Denver", "CO"),
    ("America/Phoenix", "AZ"),
    ("America/Los_Angeles", "CA"),
    ("America/Anchorage", "AK"),
    ("Pacific/Honolulu", "HI"),
    ("Atlantic/Azores", ""),
    ("Europe/London", ""),
    ("Europe/Berlin", ""),
    ("Europe/Athens", ""),
    ("Asia/Dubai", ""),
    ("Asia/Karachi", ""),
    ("Asia/Kolkata", ""),
    ("Asia/Bangkok", ""),
    ("Asia/Shanghai", ""),
    ("Asia/Tokyo", ""),
    ("Australia/Sydney", ""),
    ("Pacific/Auckland", ""),
    ("America/Sao_Paulo", ""),
]
CITIES = ["Springfield", "Riverside", "Fairview", "Greenville", "Franklin", "Clinton", "Madison"]
FIRST = ["Ada", "Ben", "Cleo", "Dev", "Eve", "Finn", "Gia", "Hal", "Ivy", "Jon", "Kai", "Lea"]
LAST = ["Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hughes", "Iqbal", "Jones", "Khan"]

# Notices meaning "nobody can be called for you right now" (not a stall of the server).
NOTHING_TO_CALL = {"outside_hours", "waiting_for_retry", "others_calling", "list_finished", "busy"}
DRAINED = {"list_finished", "waiting_for_retry", "outside_hours"}
TARGET_P99_MS = 100.0
TARGET_VOLUNTEERS = 500


# --- small helpers -------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` (p in 0..100); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def fmt_ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this process dies (Linux), so nothing is left."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def phone_number(i: int) -> str:
    """A distinct +1 212 number for each i (E.164, so the emulator accepts it)."""
    return f"+1212{2_000_000 + i:07d}"


def pick_zone(duration: float, forced: str | None) -> tuple[str, str, datetime]:
    """A zone where it is now between 08:00 (+5 min) and 21:00 minus the run time (+30 min)."""
    now = datetime.now(UTC)
    margin_end = timedelta(seconds=duration) + timedelta(minutes=30)
    candidates = [(z, s) for z, s in ZONES if forced is None or z == forced]
    if forced and not candidates:
        candidates = [(forced, "")]
    for zone, state in candidates:
        local = now.astimezone(ZoneInfo(zone))
        start = local.replace(hour=8, minute=5, second=0, microsecond=0)
        end = local.replace(hour=21, minute=0, second=0, microsecond=0) - margin_end
        if start <= local <= end:
            return zone, state, local
    raise SystemExit(
        "No listed time zone is inside the 08:00-21:00 calling window right now"
        + (f" ({forced})" if forced else "")
        + "; try again later or pass another --time-zone."
    )


# --- processes and resource monitoring -----------------------------------------------------


class Processes:
    """The emulator and gunicorn processes this benchmark starts, and only those."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.emulator: subprocess.Popen | None = None
        self.server: subprocess.Popen | None = None
        self.server_worker_pid: int | None = None
        self.emulator_url: str | None = None
        self.server_url: str | None = None
        self._files = []

    def _log(self, name: str):
        f = open(self.log_dir / name, "wb")  # noqa: SIM115 - closed in stop()
        self._files.append(f)
        return f

    def start_emulator(self, app_port: int, speed: float, seed: int, log_limit: int) -> str:
        from phonebank.telephony.emulator.process import bootstrap_command, bootstrap_env

        args = [
            "--host", "127.0.0.1", "--port", "0",
            "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
            "--api-key", API_KEY, "--api-secret", API_SECRET,
            "--twiml-app-voice-url", f"http://127.0.0.1:{app_port}/twilio/voice/client",
            "--speed", f"{speed:g}", "--seed", str(seed), "--log-level", "WARNING",
            "--log-limit", str(log_limit), "--max-finished-calls", "20000",
        ]  # fmt: skip
        self.emulator_cmd = bootstrap_command(args)
        self.emulator = subprocess.Popen(
            self.emulator_cmd,
            stdout=subprocess.PIPE,
            stderr=self._log("emulator.log"),
            stdin=subprocess.DEVNULL,
            env=bootstrap_env(),
            cwd=REPO_ROOT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 30
        line = b""
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self.emulator.stdout, selectors.EVENT_READ)
            if selector.select(max(0.1, deadline - time.monotonic())):
                line = self.emulator.stdout.readline()
        match = re.search(r"listening on (\S+)", line.decode("utf-8", "replace"))
        if not match:
            raise RuntimeError(f"the emulator did not start: {line!r} (see {self.log_dir})")
        self.emulator_url = match.group(1)
        return self.emulator_url

    def start_server(self, port: int, env: dict[str, str], app_root: Path = REPO_ROOT) -> str:
        self.server_cmd = [
            sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
            "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", "phonebank.wsgi:app",
        ]  # fmt: skip
        self.server = subprocess.Popen(
            self.server_cmd,
            cwd=app_root,
            env=env,
            stdout=self._log("gunicorn.log"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        import psutil
        import requests

        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {self.log_dir / 'gunicorn.log'}")
            try:
                if requests.get(url + "/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"gunicorn did not start; see {self.log_dir / 'gunicorn.log'}")
        workers = psutil.Process(self.server.pid).children()
        if len(workers) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {len(workers)}")
        self.server_worker_pid = workers[0].pid
        self.server_url = url
        return url

    def stop(self) -> None:
        for name in ("server", "emulator"):
            process = getattr(self, name)
            if process is None:
                continue
            setattr(self, name, None)
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout:
                process.stdout.close()
        for f in self._files:
            f.close()
        self._files = []


class Monitor(threading.Thread):
    """Samples RSS of the server, the emulator and this process; CPU is read at marks."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25):
        super().__init__(name="resource-monitor", daemon=True)
        import psutil

        self.psutil = psutil
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak_rss = dict.fromkeys(pids, 0)
        self.interval = interval
        self.stopping = threading.Event()
        self.marks: dict[str, tuple[float, dict[str, float]]] = {}

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for name, proc in self.procs.items():
            try:
                rss = proc.memory_info().rss
                if name == "server":  # the gunicorn master too (it is small)
                    rss += proc.parent().memory_info().rss if proc.parent() else 0
                self.peak_rss[name] = max(self.peak_rss[name], rss)
            except self.psutil.Error:
                pass

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, proc in self.procs.items():
            try:
                t = proc.cpu_times()
                out[name] = t.user + t.system
            except self.psutil.Error:
                out[name] = float("nan")
        return out

    def mark(self, label: str, extra: dict[str, float] | None = None) -> None:
        self.sample()
        t = self.psutil.cpu_times()
        busy = t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)
        self.marks[label] = (time.monotonic(), {**self.cpu(), **(extra or {}), "machine": busy})

    def cpu_share(self, start: str, end: str) -> dict[str, float]:
        (t0, c0), (t1, c1) = self.marks[start], self.marks[end]
        wall = max(t1 - t0, 1e-9)
        return {name: (c1[name] - c0.get(name, 0.0)) / wall for name in c1}


class ActivitySampler(threading.Thread):
    """Once a second, what the server's PostgreSQL connections are doing (pg_stat_activity):
    busy, idle in transaction, or waiting for a lock, and on which statement."""

    def __init__(self, engine, database: str, interval: float = 1.0):
        super().__init__(name="pg-activity", daemon=True)
        self.engine, self.database, self.interval = engine, database, interval
        self.samples = 0
        self.states: Counter = Counter()
        self.waiting: Counter = Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        query = text(
            "select state, wait_event_type, wait_event, left(regexp_replace(query, "
            "'\\s+', ' ', 'g'), 90) from pg_stat_activity "
            "where datname = :d and pid <> pg_backend_pid() and backend_type = 'client backend'"
        )
        try:
            with self.engine.connect() as conn:
                while not self.stopping.wait(self.interval):
                    rows = conn.execute(query, {"d": self.database}).all()
                    conn.commit()
                    self.samples += 1
                    for state, wtype, wevent, q in rows:
                        lock = wtype == "Lock"
                        self.states["waiting for a lock" if lock else state or "?"] += 1
                        if lock or state == "active":
                            self.waiting[f"{'LOCK ' + wevent if lock else 'active'}: {q}"] += 1
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            log(f"pg activity sampling stopped: {exc}")

    def summary(self) -> dict:
        n = max(self.samples, 1)
        return {
            "mean_connections_by_state": {k: round(v / n, 1) for k, v in self.states.items()},
            "top_active_or_waiting": {k: round(v / n, 2) for k, v in self.waiting.most_common(8)},
        }


def postgres_cpu(engine, database: str) -> float:
    """User+system CPU seconds of the PostgreSQL backends connected to the bench database."""
    import psutil
    from sqlalchemy import text

    with engine.connect() as conn:
        pids = conn.execute(
            text("select pid from pg_stat_activity where datname = :d"), {"d": database}
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


# --- the database --------------------------------------------------------------------------


def git_state() -> str:
    """The commit and whether the server code differs from it (others edit it as we run)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "phonebank", "migrations"],
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=10,
        ).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "phonebank", "migrations"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not diff and not untracked:
        return f"{head} (clean)"
    import hashlib

    digest = hashlib.sha1(diff).hexdigest()[:10]
    return (f"{head} + uncommitted changes to phonebank/ (diff sha1 {digest}, "
            f"{len(untracked)} untracked files)")  # fmt: skip


def make_app(url: str, secret: str):
    from phonebank import create_app

    return create_app(
        {
            "ENV_NAME": "production",
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secret,
            "PUBLIC_URL": "http://127.0.0.1",
            "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_SECURE": False,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 2, "max_overflow": 2},
        }
    )


def create_database(admin_url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    name = f"phonebank_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Seeded:
    campaign_id: int
    volunteer_ids: list[int]
    staff_id: int
    dnc_person_ids: list[int]  # flagged do-not-call before the run (person flag)
    dnc_numbers: list[str]  # on the do-not-call list before the run (number)
    people: int
    phones: int


def seed(app, args, zone: str, state: str) -> Seeded:
    """Users, a power-dialing campaign with a survey, and the people on its list (bulk)."""
    from argon2 import PasswordHasher
    from sqlalchemy import insert, text

    from phonebank.campaigns import services as campaigns
    from phonebank.campaigns.hours import make_zone_key
    from phonebank.extensions import db
    from phonebank.models import (
        Address,
        CampaignMember,
        CampaignStatus,
        CampaignTarget,
        DialingMode,
        DoNotCallNumber,
        Person,
        Phone,
        QuestionKind,
        Role,
        User,
    )

    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    password_hash = PasswordHasher().hash(PASSWORD)  # one hash shared by every bench user
    zone_key = make_zone_key([zone], state)
    with app.app_context():
        conn = db.session.connection()

        def bulk(table, rows, batch=10_000):
            for i in range(0, len(rows), batch):
                conn.execute(insert(table), rows[i : i + batch])

        # users: one staff member (campaign owner) and the volunteers
        users = [
            {
                "id": 1,
                "email": "staff@bench.phonebank.test",
                "name": "Bench Staff",
                "role": Role.STAFF,
                "password_hash": password_hash,
                "is_active_account": True,
                "created_at": now,
            }
        ]
        volunteer_ids = list(range(2, args.volunteers + 2))
        users += [
            {
                "id": uid,
                "email": f"volunteer{uid - 1}@bench.phonebank.test",
                "name": f"Volunteer {uid - 1}",
                "role": Role.VOLUNTEER,
                "password_hash": password_hash,
                "is_active_account": True,
                "created_at": now,
            }
            for uid in volunteer_ids
        ]
        bulk(User.__table__, users)

        # people, phones, addresses; ~1% do-not-call up front (half by person, half by number)
        people, phones, addresses, dnc_people, dnc_numbers = [], [], [], [], []
        phone_id = 0
        for pid in range(1, args.people + 1):
            flagged = pid % 100 == 7
            by_person = flagged and (pid // 100) % 2 == 0
            people.append(
                {
                    "id": pid,
                    "first_name": rng.choice(FIRST),
                    "last_name": rng.choice(LAST),
                    "do_not_call": by_person,
                    "do_not_email": False,
                    "deceased": False,
                    "moved": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if by_person:
                dnc_people.append(pid)
            kinds = ["mobile" if rng.random() < 0.7 else "home"]
            if rng.random() < 0.1:
                kinds.append("home" if kinds[0] == "mobile" else "mobile")
            for n, kind in enumerate(kinds):
                phone_id += 1
                number = phone_number(pid + n * 5_000_000)
                phones.append(
                    {
                        "id": phone_id,
                        "person_id": pid,
                        "number": number,
                        "type": kind,
                        "status": "ok",
                        "source": "bench",
                        "time_zones": zone,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if flagged and not by_person:
                    dnc_numbers.append(number)
            addresses.append(
                {
                    "person_id": pid,
                    "city": rng.choice(CITIES),
                    "region": state,
                    "country": "US" if state else "",
                    "time_zone": zone,
                    "is_primary": True,
                    "source": "bench",
                    "created_at": now,
                }
            )
        bulk(Person.__table__, people)
        bulk(Phone.__table__, phones)
        bulk(Address.__table__, addresses)
        bulk(
            DoNotCallNumber.__table__,
            [
                {"number": n, "reason": "bench: listed up front", "source": "bench",
                 "added_at": now}
                for n in dnc_numbers
            ],
        )  # fmt: skip
        for table in ("users", "people", "phones", "addresses"):
            conn.execute(
                text(
                    f"select setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(select max(id) from {table}))"
                )
            )
        db.session.commit()

        # the campaign, through the service (default outcomes), with a survey
        staff = db.session.get(User, 1)
        campaign = campaigns.create_campaign(
            "Bench: power dialing",
            created_by=staff,
            dialing_mode=DialingMode.POWER,
            caller_id=CALLER_ID,
            script="Hi {first_name}, this is {volunteer_name} with {campaign_name}. "
            "Can we count on your **yes** on Saturday?",
            voicemail_text="Sorry we missed you. Please vote yes on Saturday.",
        )
        campaign.status = CampaignStatus.ACTIVE
        campaigns.save_question(
            campaign,
            None,
            kind=QuestionKind.SINGLE,
            prompt="How will you vote?",
            choices=["Strong yes", "Lean yes", "Undecided", "Lean no", "Strong no"],
            is_main=True,
            answer_tags={"Strong yes": ["supporter"]},
        )
        campaigns.save_question(
            campaign,
            None,
            kind=QuestionKind.MULTIPLE,
            prompt="What matters most to you?",
            choices=["Cost of living", "Health", "Schools", "Transport"],
        )
        campaigns.save_question(campaign, None, kind=QuestionKind.TEXT, prompt="Anything else?",
                                choices=[])  # fmt: skip
        db.session.flush()
        campaign_id = campaign.id
        conn = db.session.connection()
        bulk(
            CampaignMember.__table__,
            [{"campaign_id": campaign_id, "user_id": uid, "added_at": now}
             for uid in volunteer_ids],
        )  # fmt: skip
        # every person goes on the list, do-not-call ones too: the queue must skip them
        bulk(
            CampaignTarget.__table__,
            [
                {
                    "campaign_id": campaign_id,
                    "person_id": pid,
                    "status": "queued",
                    "priority": 1,
                    "zone_key": zone_key,
                    "added_at": now,
                }
                for pid in range(1, args.people + 1)
            ],
        )
        db.session.commit()
        conn = db.session.connection()
        conn.execute(text("analyze"))
        db.session.commit()
        db.session.remove()
    return Seeded(
        campaign_id=campaign_id,
        volunteer_ids=volunteer_ids,
        staff_id=1,
        dnc_person_ids=dnc_people,
        dnc_numbers=dnc_numbers,
        people=len(people),
        phones=len(phones),
    )


def cookies_direct(app, user_ids: list[int]) -> dict[int, str]:
    """Sign volunteers in without 500 Argon2 verifications: a LoginSession row per volunteer
    (as ``auth.services.start_login_session`` writes) and the Flask session cookie that
    ``login_user`` produces, signed with the server's own secret key by Flask's own session
    serializer, bound (session protection "strong") to 127.0.0.1 and the client's User-Agent.
    """
    from flask import session as flask_session
    from flask_login import login_user
    from sqlalchemy import insert, select

    from phonebank.extensions import db
    from phonebank.models import LoginSession, User

    now = datetime.now(UTC)
    tokens = {uid: secrets.token_urlsafe(32) for uid in user_ids}
    cookies = {}
    with app.app_context():
        db.session.execute(
            insert(LoginSession.__table__),
            [
                {"token": t, "user_id": uid, "created_at": now, "ip": "127.0.0.1",
                 "user_agent": USER_AGENT}
                for uid, t in tokens.items()
            ],
        )  # fmt: skip
        db.session.commit()
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        serializer = app.session_interface.get_signing_serializer(app)
        with app.test_request_context(
            "/", headers={"User-Agent": USER_AGENT}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        ):
            for uid in user_ids:
                user = users[uid]
                user.current_login = type("Login", (), {"token": tokens[uid]})()
                flask_session.clear()
                if not login_user(user):
                    raise RuntimeError(f"user {uid} cannot sign in")
                cookies[uid] = serializer.dumps(dict(flask_session))
        db.session.remove()
    return cookies


def cookies_via_form(base_url: str, user_ids: list[int], concurrency: int) -> dict[int, str]:
    """Sign every volunteer in through the real login form (one Argon2 verify each)."""
    import requests

    def one(uid: int) -> tuple[int, str]:
        s = requests.Session()
        s.headers["User-Agent"] = USER_AGENT
        page = s.get(base_url + "/login", timeout=60)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        r = s.post(
            base_url + "/login",
            data={
                "csrf_token": token,
                "email": f"volunteer{uid - 1}@bench.phonebank.test",
                "password": PASSWORD,
            },
            timeout=60,
            allow_redirects=False,
        )
        if r.status_code != 302:
            raise RuntimeError(f"login of volunteer {uid - 1} failed: HTTP {r.status_code}")
        return uid, s.cookies["phonebank_session"]

    with ThreadPoolExecutor(concurrency) as pool:
        return dict(pool.map(one, user_ids))


# --- the volunteers ------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # next-voter, seconds
    latency_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    first_voter: list[float] = field(default_factory=list)
    submit_ack: list[float] = field(default_factory=list)
    loop_lag: list[float] = field(default_factory=list)
    voters: int = 0  # voter cards received (all time)
    submits: int = 0
    submit_errors: Counter = field(default_factory=Counter)
    submit_retries: int = 0
    acked: dict[int, str] = field(default_factory=dict)  # call id -> outcome acknowledged
    outcomes: Counter = field(default_factory=Counter)
    starved: Counter = field(default_factory=Counter)  # freed, but nobody could be given
    notices: Counter = field(default_factory=Counter)
    stalls: int = 0  # free and ready for > stall timeout with no reason given: re-sent ready
    unpaired: int = 0  # a new voter replaced the old one without a "free" push in between
    disconnects: int = 0
    pushes: int = 0
    stale: int = 0  # snapshots older than one already received (dropped, as the page does)
    target_volunteers: dict[int, set] = field(default_factory=lambda: defaultdict(set))
    errors: Counter = field(default_factory=Counter)
    first_voter_seen: set = field(default_factory=set)
    censored: list = field(default_factory=list)  # still waiting at the end (lower bounds)
    debug: list = field(default_factory=list)


def _summary(snap: dict) -> dict:
    voter, call = snap.get("voter"), snap.get("call")
    return {
        "state": snap["session"]["state"],
        "notice": snap["session"].get("notice"),
        "target": voter and voter["target_id"],
        "call": call and {k: call[k] for k in ("id", "state", "status", "answered_by")},
    }


class Volunteer:
    def __init__(self, bench: Bench, index: int, user_id: int, cookie: str):
        self.bench, self.index, self.user_id, self.cookie = bench, index, user_id, cookie
        self.rng = random.Random(bench.args.seed * 100_003 + index)
        self.sio = None
        self.audio_sid: str | None = None
        self.session_id: int | None = None
        self.form: dict | None = None
        self.audio_up = asyncio.Event()
        self.target_id: int | None = None
        self.call_id: int | None = None
        self.free_since: float | None = None
        self.free_kind: str | None = None
        self.ready_sent_at: float | None = None
        self.starved_reason: str | None = None
        self.submit_tasks: dict[int, tuple[asyncio.Task, asyncio.Event]] = {}
        self.poller: asyncio.Task | None = None
        self.last_nudge = 0.0
        self.alive = False
        self.last_summary = None
        self.version = -1

    # connection and set-up: sign-in cookie, join, browser audio through the emulator
    async def setup(self) -> None:
        import socketio

        b = self.bench
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("session.state", self.on_state)
        self.sio.on("disconnect", self.on_disconnect)
        await self.sio.connect(
            b.server_url,
            headers={"Cookie": f"phonebank_session={self.cookie}", "User-Agent": USER_AGENT},
            transports=["websocket"],
            wait_timeout=60,
        )
        self.alive = True
        reply = await self.call("session.join", {"campaign_id": b.seeded.campaign_id})
        self.form = reply["form"]
        self.session_id = reply["state"]["session"]["id"]
        reply = await self.call("audio.connect", {"mode": "browser"})
        async with b.http.post(
            b.emulator_url + "/_emulator/client/connect",
            json={"token": reply["audio"]["token"], "params": {"session_id": str(self.session_id)}},
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"client/connect: HTTP {response.status}")
            self.audio_sid = (await response.json())["call_sid"]
        await asyncio.wait_for(self.audio_up.wait(), timeout=120)

    async def call(self, event: str, data: dict, timeout: float = 60) -> dict:
        reply = await self.sio.call(event, data, timeout=timeout)
        if not reply or not reply.get("ok"):
            raise RuntimeError(f"{event}: {reply and reply.get('error')}")
        return reply

    async def go_ready(self) -> None:
        self.ready_sent_at = time.monotonic()
        try:
            await self.call("volunteer.ready", {"ready": True})
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.bench.stats.errors[f"ready: {type(exc).__name__} {exc}"[:120]] += 1

    async def nudge(self) -> None:
        """Press Ready again (the page's button), when nothing else will move things on."""
        self.last_nudge = time.monotonic()
        try:
            await self.sio.call("volunteer.ready", {"ready": True}, timeout=60)
        except Exception as exc:  # noqa: BLE001
            self.bench.stats.errors[f"ready (again): {type(exc).__name__} {exc}"[:120]] += 1

    def on_disconnect(self, reason=None) -> None:
        self.alive = False
        if not self.bench.stopping:
            self.bench.stats.disconnects += 1

    # the loop, driven by session.state pushes
    def on_state(self, snap: dict) -> None:
        now = time.monotonic()
        b, stats = self.bench, self.bench.stats
        stats.pushes += 1
        version = snap.get("version")
        if version is not None:  # as the page does: drop a snapshot older than one we have
            if version < self.version:
                stats.stale += 1
                return
            self.version = version
        session = snap["session"]
        if session["audio"]["up"]:
            self.audio_up.set()
        if session["ended"]:
            return
        voter, call = snap.get("voter"), snap.get("call")
        notice = session.get("notice") or {}
        tid = voter["target_id"] if voter else None
        if tid is not None and tid != self.target_id:
            stats.voters += 1
            stats.target_volunteers[tid].add(self.index)
            if self.free_since is not None:
                if self.free_since >= b.window_start and not b.stopping:
                    stats.latencies.append(now - self.free_since)
                    stats.latency_kind[self.free_kind or "?"].append(now - self.free_since)
            elif self.target_id is not None:
                stats.unpaired += 1
                if b.args.debug and len(stats.debug) < 20:
                    stats.debug.append((self.index, self.last_summary, _summary(snap)))
            elif self.ready_sent_at is not None and self.index not in stats.first_voter_seen:
                stats.first_voter.append(now - self.ready_sent_at)
                stats.first_voter_seen.add(self.index)
            self.free_since, self.free_kind = None, None
            self.target_id, self.call_id = tid, None
            self.starved_reason = None
        elif tid is None and self.target_id is not None:
            # freed by the server: automatic outcome (busy, no answer, failed) or a machine
            if self.free_since is None:
                self.free_since = now
                self.free_kind = notice.get("reason") or "auto"
            self.target_id, self.call_id = None, None
        if tid is None and session["ready"]:
            reason = notice.get("reason")
            if reason:
                stats.notices[reason] += 1
            if reason in NOTHING_TO_CALL:
                if self.free_since is not None:
                    stats.starved[reason] += 1
                    self.free_since, self.free_kind = None, None
                self.starved_reason = reason
                if reason not in DRAINED and not b.stopping and self.poller is None:
                    self.poller = asyncio.ensure_future(self.poll_while_starved())
            elif reason in ("provider_error", "error"):
                stats.errors[f"notice {reason}: {notice.get('message')}"[:120]] += 1
        if tid is None and not session["ready"] and not b.stopping and self.ready_sent_at:
            # paused by the server (provider error): press Ready again, as a volunteer would
            if now - self.last_nudge > 1.0:
                asyncio.ensure_future(self.nudge())
        if call is not None and tid is not None and tid == self.target_id:
            self.call_id = call["id"]
            self.follow_call(call)
        if b.args.debug:
            self.last_summary = _summary(snap)

    def follow_call(self, call: dict) -> None:
        """A person answered: talk a little, then save; if the call ends first, save then."""
        cid, state = call["id"], call["state"]
        entry = self.submit_tasks.get(cid)
        if state == "talking" and call.get("answered_by") in ("human", "unknown"):
            if entry is None:
                talk = self.bench.args.talk_seconds * self.rng.uniform(0.5, 1.5)
                self.start_submit(cid, 0.0 if self.bench.stopping else talk / self.bench.args.speed)
        elif state == "ended":  # wrap-up: the call is over, the outcome is not recorded yet
            if entry is None:
                self.start_submit(cid, 0.0)
            else:
                entry[1].set()

    def start_submit(self, call_id: int, delay: float) -> None:
        wrapup = asyncio.Event()
        task = asyncio.ensure_future(self.submit_after(call_id, delay, wrapup))
        self.submit_tasks[call_id] = (task, wrapup)

    async def submit_after(self, call_id: int, delay: float, wrapup: asyncio.Event) -> None:
        stats = self.bench.stats
        try:
            await asyncio.wait_for(wrapup.wait(), timeout=delay)
        except TimeoutError:
            pass
        if self.call_id != call_id or not self.alive:
            return
        payload = self.outcome_payload(call_id)
        t0 = time.monotonic()
        target_before = self.target_id
        if self.free_since is None:
            self.free_since, self.free_kind = t0, "submitted"
        stats.submits += 1
        # As the page does: a save with no answer is sent again with the same submission id
        # (up to four tries), which the server records once.
        for attempt in range(4):
            try:
                reply = await self.sio.call("outcome.submit", payload, timeout=60)
                break
            except Exception as exc:  # noqa: BLE001
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                stats.submit_retries += 1
                if not self.alive or attempt == 3:
                    break
        if reply and reply.get("ok"):
            stats.submit_ack.append(time.monotonic() - t0)
            stats.outcomes[payload["outcome"]] += 1
            stats.acked[call_id] = payload["outcome"]
        else:
            stats.submit_errors[str(reply and reply.get("error"))[:120]] += 1
            if self.free_kind == "submitted" and self.target_id == target_before:
                self.free_since, self.free_kind = None, None

    def outcome_payload(self, call_id: int) -> dict:
        roll = self.rng.random()
        answers, callback_at = {}, None
        if roll < 0.80:
            outcome = "talked"
            for q in self.form["questions"]:
                if q["kind"] == "single":
                    answers[str(q["id"])] = self.rng.choice(q["choices"])
                elif q["kind"] == "multiple":
                    answers[str(q["id"])] = self.rng.sample(q["choices"], self.rng.randint(1, 2))
                else:
                    answers[str(q["id"])] = "Friendly; wants a lawn sign."
        elif roll < 0.92:
            outcome = "refused"
        elif roll < 0.97:
            outcome = "call_back"
            callback_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        else:
            outcome = "do_not_call"
        return {
            "call_id": call_id,
            "submission_id": uuid.uuid4().hex,
            "outcome": outcome,
            "answers": answers,
            "notes": "bench",
            "callback_at": callback_at,
        }

    async def poll_while_starved(self) -> None:
        """Others hold the last callable people: ask again every 2 s while that lasts."""
        try:
            while not self.bench.stopping and self.starved_reason in NOTHING_TO_CALL - DRAINED:
                await asyncio.sleep(2.0)
                if self.bench.stopping or self.starved_reason not in NOTHING_TO_CALL - DRAINED:
                    break
                await self.nudge()
        finally:
            self.poller = None

    async def wrap_up(self, timeout: float) -> None:
        """Pause after this voter, save the outcome of a live conversation at once, and wait
        until nobody is in hand (machines and ringing calls resolve by themselves)."""
        if self.sio is None or not self.sio.connected:
            return
        try:
            await self.sio.call("volunteer.ready", {"ready": False}, timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            self.bench.stats.errors[f"pause: {type(exc).__name__}"] += 1
        for _, wrapup in list(self.submit_tasks.values()):
            wrapup.set()
        deadline = time.monotonic() + timeout
        while self.target_id is not None and self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def finish(self) -> None:
        if self.sio is None:
            return
        try:
            if self.sio.connected:
                await self.sio.call("session.end", {}, timeout=15)
        except Exception as exc:  # noqa: BLE001
            self.bench.stats.errors[f"session.end: {type(exc).__name__}"] += 1
        if self.audio_sid:  # the page closes: its WebRTC leg goes too
            try:
                async with self.bench.http.post(
                    self.bench.emulator_url + "/_emulator/client/disconnect",
                    json={"call_sid": self.audio_sid},
                ) as response:
                    await response.read()
            except Exception:  # noqa: BLE001
                pass
        try:
            await self.sio.disconnect()
        except Exception:  # noqa: BLE001
            pass


# --- the benchmark -------------------------------------------------------------------------


class Bench:
    volunteer_class = Volunteer  # bench/dashboard.py records their pushes too (a subclass)

    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.stopping = False
        self.end_window = threading.Event()  # set by bench/dashboard.py when its phases are done
        self.window_start = float("inf")
        self.processes: Processes | None = None
        self.db_name: str | None = None
        self.db_url: str | None = None
        self.monitor: Monitor | None = None
        self.timings: dict[str, float] = {}
        self.result: dict = {}
        self.emulator_stats: dict = {}

    # orchestration
    def run(self) -> int:
        args = self.args
        self.started = datetime.now(UTC)
        self.log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="phonebank-bench-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.zone, self.state, local = pick_zone(args.duration + 600, args.time_zone)
        log(f"people live in {self.zone} ({self.state or 'no US state'}): local time there "
            f"is {local:%H:%M} {local:%a}, inside 08:00-21:00")  # fmt: skip
        t = time.monotonic()
        self.db_name, self.db_url = create_database(args.database_url)
        log(f"database {self.db_name} created; migrating")
        secret = secrets.token_urlsafe(48)
        app_root = Path(args.app_root).resolve() if args.app_root else REPO_ROOT
        # as the Procfile's release step does: flask db upgrade
        migrated = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "phonebank.wsgi", "db", "upgrade"],
            cwd=app_root,
            env={
                **os.environ,
                "PHONEBANK_ENV": "production",
                "PHONEBANK_SECRET_KEY": secret,
                "PHONEBANK_DATABASE_URL": self.db_url,
                "PHONEBANK_PUBLIC_URL": "http://127.0.0.1",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{migrated.stderr[-3000:]}")
        app = make_app(self.db_url, secret)
        self.timings["create_and_migrate_s"] = time.monotonic() - t
        t = time.monotonic()
        log(f"seeding {args.people:,} people and {args.volunteers} volunteers")
        self.seeded = seed(app, args, self.zone, self.state)
        self.timings["seed_s"] = time.monotonic() - t
        log(f"seeded in {self.timings['seed_s']:.1f} s")

        self.processes = Processes(self.log_dir)
        port = free_port()
        self.emulator_url = self.processes.start_emulator(
            port, args.speed, args.seed, args.emulator_log_limit
        )
        env = {
            **os.environ,
            "PHONEBANK_ENV": "production",
            "PHONEBANK_SECRET_KEY": secret,
            "PHONEBANK_SECURE_COOKIES": "false",
            "PHONEBANK_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PHONEBANK_DATABASE_URL": self.db_url,
            "PHONEBANK_REDIS_URL": args.redis_url or "",
            "PHONEBANK_SOCKETIO_CHANNEL": f"phonebank-bench-{self.db_name}",
            "PHONEBANK_TWILIO_EMULATOR_URL": self.emulator_url,
            "PHONEBANK_LOG_LEVEL": args.server_log_level,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_KEY": API_KEY,
            "TWILIO_API_SECRET": API_SECRET,
            "TWILIO_TWIML_APP_SID": TWIML_APP_SID,
            "GEVENT_MONITOR_THREAD_ENABLE": "true",
            "GEVENT_MAX_BLOCKING_TIME": "0.5",
        }
        if args.db_pool_size:
            env["PHONEBANK_DB_POOL_SIZE"] = str(args.db_pool_size)
        self.server_env = {k: v for k, v in env.items() if k not in os.environ or
                           os.environ[k] != v}  # fmt: skip
        self.server_url = self.processes.start_server(port, env, app_root)
        log(f"server {self.server_url} (worker pid {self.processes.server_worker_pid}), "
            f"emulator {self.emulator_url} at {args.speed:g}x")  # fmt: skip

        t = time.monotonic()
        ids = self.seeded.volunteer_ids
        if args.login == "form":
            cookies = cookies_via_form(self.server_url, ids, args.login_concurrency)
        else:
            cookies = cookies_direct(app, ids)
            # The login form itself still works with these users (one real sign-in, checked).
            cookies_via_form(self.server_url, ids[:1], 1)
        self.timings["sign_in_s"] = time.monotonic() - t
        log(f"{len(cookies)} volunteers signed in ({args.login}) in "
            f"{self.timings['sign_in_s']:.1f} s")  # fmt: skip

        from sqlalchemy import create_engine

        self.engine = create_engine(self.db_url, pool_size=3)
        self.monitor = Monitor(
            {
                "server": self.processes.server_worker_pid,
                "emulator": self.processes.emulator.pid,
                "client": os.getpid(),
            }
        )
        self.monitor.start()
        asyncio.run(self.drive(cookies))
        self.verify()
        self.report()
        return 0

    def cleanup(self) -> None:
        self.stopping = True
        if self.monitor is not None:
            self.monitor.stopping.set()
        if getattr(self, "activity", None) is not None:
            self.activity.stopping.set()
            self.activity.join(timeout=5)
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()
        if self.processes is not None:
            self.processes.stop()
        if self.db_name and not self.args.keep:
            try:
                drop_database(self.args.database_url, self.db_name)
                log(f"database {self.db_name} dropped")
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop {self.db_name}: {exc}")
        elif self.db_name:
            log(f"database kept: {self.db_url}")

    # the volunteers' run
    async def drive(self, cookies: dict[int, str]) -> None:
        import aiohttp

        args, stats = self.args, self.stats
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        lag_task = asyncio.ensure_future(self.measure_loop_lag())
        volunteers = [
            self.volunteer_class(self, i, uid, cookies[uid])
            for i, uid in enumerate(self.seeded.volunteer_ids)
        ]
        self.volunteers = volunteers
        try:
            t = time.monotonic()
            gate = asyncio.Semaphore(args.connect_concurrency)

            async def setup(v: Volunteer):
                async with gate:
                    await v.setup()

            results = await asyncio.gather(*(setup(v) for v in volunteers), return_exceptions=True)
            failed = [(v, r) for v, r in zip(volunteers, results, strict=True) if r is not None]
            for v, r in failed[:5]:
                log(f"volunteer {v.index} could not start: {type(r).__name__}: {r}")
            working = [v for v, r in zip(volunteers, results, strict=True) if r is None]
            self.timings["join_and_audio_s"] = time.monotonic() - t
            self.connected = len(working)
            took = self.timings["join_and_audio_s"]
            log(f"{len(working)}/{len(volunteers)} volunteers joined with audio up in "
                f"{took:.1f} s; ready over {args.ramp:g} s")  # fmt: skip
            if not working:
                raise RuntimeError("no volunteer could start")

            # Ready, staggered over the ramp; the measured window starts when all are ready.
            t = time.monotonic()
            readies = []
            for i, v in enumerate(working):
                delay = t + args.ramp * i / len(working) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                readies.append(asyncio.ensure_future(v.go_ready()))
            await asyncio.wait_for(asyncio.gather(*readies), timeout=120)
            self.window_start = time.monotonic()
            self.wall_start = datetime.now(UTC)
            self.monitor.mark("start", {"postgres": postgres_cpu(self.engine, self.db_name)})
            if args.profile:
                self.start_profiler()
            self.activity = ActivitySampler(self.engine, self.db_name)
            self.activity.start()
            log(f"all ready; measuring for up to {args.duration:g} s")

            next_report = self.window_start + 5
            end = self.window_start + args.duration
            self.drained = False
            while time.monotonic() < end and not self.end_window.is_set():
                await asyncio.sleep(0.25)
                now = time.monotonic()
                alive = [v for v in working if v.alive]
                if not alive:
                    log("every volunteer is disconnected; stopping")
                    break
                if all(v.starved_reason in DRAINED for v in alive):
                    self.drained = True
                    log("the list is drained (nobody left to call now); stopping")
                    break
                for v in alive:  # free and ready with nothing on the way: nudge
                    if (
                        v.free_since is not None
                        and v.starved_reason is None
                        and now - v.free_since > args.stall_seconds
                        and now - v.last_nudge > args.stall_seconds
                    ):
                        stats.stalls += 1
                        if args.debug and len(stats.debug) < 40:
                            stats.debug.append(("stall", v.index, v.session_id, v.last_summary))
                        asyncio.ensure_future(v.nudge())
                if now >= next_report:
                    next_report += 5
                    lat = stats.latencies
                    log(f"t+{now - self.window_start:4.0f}s voters {stats.voters} "
                        f"next-voter p50 {fmt_ms(percentile(lat, 50))} "
                        f"p99 {fmt_ms(percentile(lat, 99))} (n={len(lat)}) "
                        f"submits {stats.submits} loop-lag p99 "
                        f"{fmt_ms(percentile(stats.loop_lag, 99))}")  # fmt: skip
            self.window_end = time.monotonic()
            self.wall_end = datetime.now(UTC)
            # volunteers still waiting for their next voter when the window closes: their wait
            # so far is a lower bound (left out, the percentiles would flatter an overload)
            stats.censored = [
                self.window_end - max(v.free_since, self.window_start)
                for v in working
                if v.free_since is not None and v.starved_reason is None
            ]
            self.monitor.mark("end", {"postgres": postgres_cpu(self.engine, self.db_name)})
            self.activity.stopping.set()
            self.stopping = True
            self.monitor.sample()
            log("stopping: volunteers pause, save live conversations, then end their sessions")
            await asyncio.gather(*(v.wrap_up(20) for v in working), return_exceptions=True)
            left = sum(1 for v in working if v.target_id is not None)
            if left:
                log(f"{left} volunteers still had a voter in hand after 20 s")
            gate = asyncio.Semaphore(50)

            async def finish(v: Volunteer):
                async with gate:
                    await v.finish()

            await asyncio.wait_for(
                asyncio.gather(*(finish(v) for v in volunteers), return_exceptions=True),
                timeout=120,
            )
            await self.wait_for_calls_to_end()
        finally:
            self.stopping = True
            lag_task.cancel()
            for v in volunteers:
                for task, _ in v.submit_tasks.values():
                    task.cancel()
                if v.poller:
                    v.poller.cancel()
                if v.sio is not None and v.sio.connected:
                    try:
                        await asyncio.wait_for(v.sio.disconnect(), timeout=5)
                    except Exception:  # noqa: BLE001
                        pass
            await self.http.close()

    def start_profiler(self) -> None:
        """py-spy on the server worker for the measured window (collapsed stacks, sampled
        without pausing the process); see --profile."""
        py_spy = Path(sys.executable).parent / "py-spy"
        self.profile_path = self.log_dir / "server-profile.txt"
        subprocess.Popen(
            [str(py_spy), "record", "--pid", str(self.processes.server_worker_pid),
             "--duration", str(int(self.args.duration)), "--rate", "50", "--nonblocking",
             "--format", "raw", "--output", str(self.profile_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )  # fmt: skip

    async def measure_loop_lag(self) -> None:
        """How late this client's event loop wakes up: if small, the client kept up."""
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            if self.window_start <= t and not self.stopping:
                self.stats.loop_lag.append(time.monotonic() - t - 0.05)

    async def wait_for_calls_to_end(self, timeout: float = 30) -> None:
        """Let the emulator finish the calls left (hung up, machines, ringing)."""
        live_statuses = ("queued", "initiated", "ringing", "in-progress")
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self.http.get(self.emulator_url + "/_emulator/stats") as r:
                    self.emulator_stats = await r.json()
            except Exception as exc:  # noqa: BLE001
                log(f"emulator stats unavailable: {exc}")
                return
            by_status = self.emulator_stats.get("calls_by_status", {})
            live = sum(n for status, n in by_status.items() if status in live_statuses)
            if live == 0:
                return
            if time.monotonic() > deadline:
                log(f"{live} calls still live in the emulator after {timeout:g} s")
                return
            await asyncio.sleep(0.5)

    # checks in the database
    def verify(self) -> None:
        from sqlalchemy import text

        cid = self.seeded.campaign_id
        q = {
            # a person in two calls at once: two calls whose [created, ended] overlap
            "person_overlaps": """
                select count(*) from calls a join calls b
                  on a.person_id = b.person_id and a.id < b.id
                 and b.created_at < coalesce(a.ended_at, 'infinity')
                 and a.created_at < coalesce(b.ended_at, 'infinity')""",
            # a call whose outcome was recorded twice (history entries per call)
            "outcomes_recorded_twice": """
                select count(*) from (select payload->>'call_id' from activities
                 where kind = 'call' and module = 'calling' group by 1 having count(*) > 1) x""",
            # calls with an outcome but no history entry, or the other way round
            "outcome_history_mismatch": """
                select (select count(*) from calls where outcome_id is not null)
                     - (select count(distinct payload->>'call_id') from activities
                         where kind = 'call' and module = 'calling')""",
            # a target with more than one call: every retry delay here is 60 min or more,
            # so within a run this means one attempt was dialed twice
            "targets_called_twice": """
                select count(*) from (select target_id from calls
                  where coalesce(end_reason, '') <> 'provider_error'
                  group by target_id having count(*) > 1) x""",
            # the attempt counter agrees with the calls placed
            "attempt_count_mismatch": """
                select count(*) from campaign_targets t join (
                  select target_id, count(*) n from calls
                   where coalesce(end_reason, '') <> 'provider_error' group by target_id) c
                  on c.target_id = t.id where t.attempts <> c.n""",
            # do-not-call: people flagged up front, numbers listed before the call, and people
            # flagged during the run (a "Do not call" outcome) called afterwards
            "calls_to_dnc_people": """
                select count(*) from calls where person_id = any(:dnc_people)""",
            "calls_to_dnc_numbers": """
                select count(*) from calls c join phones p on p.id = c.phone_id
                  join do_not_call_numbers d on d.number = p.number
                 where d.added_at <= c.created_at""",
            "calls_after_dnc_flag": """
                select count(*) from calls c join activities a
                  on a.person_id = c.person_id and a.kind = 'flag'
                 and a.payload->'flags' ? 'do_not_call'
                 where c.created_at > a.occurred_at""",
            # one volunteer given two voters at once: a later call of the same session placed
            # before the earlier one was released (outcome recorded or call ended). Machine
            # calls are left out: the volunteer leaves those at the AMD result, not stored.
            "session_overlaps": """
                select count(*) from calls a join calls b
                  on a.session_id = b.session_id and a.id < b.id
                 and b.created_at < least(coalesce(a.outcome_at, 'infinity'),
                                          coalesce(a.ended_at, 'infinity'))
                 where coalesce(a.answered_by, '') not like 'machine%'
                   and coalesce(a.answered_by, '') <> 'fax'""",
            # people left "in a call" for good: their target is in_call but its last call is
            # over and has no outcome (nothing will ever release them)
            "orphaned_in_call": """
                select count(*) from campaign_targets t
                 where t.status = 'in_call' and not exists (
                   select 1 from calls c where c.target_id = t.id
                      and c.status not in ('completed','busy','no-answer','failed','canceled'))""",
            "busy_targets_now": """
                select count(*) from (select person_id from campaign_targets
                 where status in ('claimed','in_call') group by 1 having count(*) > 1) x""",
        }
        counts_q = {
            "calls_total": "select count(*) from calls where campaign_id = :cid",
            "calls_in_window": """select count(*) from calls where campaign_id = :cid
                and created_at >= :t0 and created_at < :t1""",
            "outcomes_in_window": """select count(*) from calls where campaign_id = :cid
                and outcome_at >= :t0 and outcome_at < :t1""",
            "outcomes_total": "select count(*) from calls where outcome_id is not null",
            "volunteer_outcomes_in_window": """select count(*) from calls where
                outcome_by_id is not null and outcome_at >= :t0 and outcome_at < :t1""",
        }
        params = {
            "cid": cid,
            "dnc_people": self.seeded.dnc_person_ids or [0],
            "t0": self.wall_start,
            "t1": self.wall_end,
        }
        with self.engine.connect() as conn:
            checks = {k: conn.execute(text(v), params).scalar() for k, v in q.items()}
            # Integrity under load: every acknowledged outcome is in the database (as sent),
            # every call that ended has an outcome, and no voicemail is claimed as left
            # without the message's last step having reached phonebank.
            acked = self.stats.acked
            stored = dict(
                conn.execute(
                    text(
                        "select c.id, o.code from calls c join outcomes o on o.id = c.outcome_id "
                        "where c.id = any(:ids)"
                    ),
                    {"ids": list(acked) or [0]},
                ).all()
            )
            checks["acked_outcomes_lost"] = sum(1 for cid in acked if cid not in stored)
            checks["acked_outcomes_changed"] = sum(
                1 for cid, code in acked.items() if cid in stored and stored[cid] != code
            )
            checks["ended_calls_without_outcome"] = conn.execute(
                text(
                    "select count(*) from calls where outcome_id is null and status in "
                    "('completed','busy','no-answer','canceled') and coalesce(end_reason, '') "
                    "<> 'provider_error'"
                )
            ).scalar()
            checks["left_message_without_voicemail"] = conn.execute(
                text(
                    "select count(*) from calls c join outcomes o on o.id = c.outcome_id "
                    "where o.auto_for = 'voicemail' and c.outcome_by_id is null "
                    "and not c.voicemail_left"
                )
            ).scalar()
            counts = {k: conn.execute(text(v), params).scalar() for k, v in counts_q.items()}
            counts["by_outcome"] = dict(
                conn.execute(
                    text(
                        "select coalesce(o.code, '(none: ' || c.status || ')'), count(*) "
                        "from calls c left join outcomes o on o.id = c.outcome_id "
                        "group by 1 order by 2 desc"
                    )
                ).all()
            )
            counts["targets_by_status"] = dict(
                conn.execute(text("select status, count(*) from campaign_targets group by 1")).all()
            )
        self.checks, self.counts = checks, counts

    # the report
    def report(self) -> None:
        args, stats = self.args, self.stats
        window = self.window_end - self.window_start
        cpu = self.monitor.cpu_share("start", "end")
        # what else ran on the machine meanwhile (other developers' tests and servers)
        cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
        lat = stats.latencies
        by_volunteer_multi = sum(1 for s in stats.target_volunteers.values() if len(s) > 1)
        double_claims = sum(
            self.checks[k]
            for k in (
                "person_overlaps",
                "outcomes_recorded_twice",
                "targets_called_twice",
                "busy_targets_now",
                "session_overlaps",
            )
        )
        dnc_calls = sum(
            self.checks[k]
            for k in ("calls_to_dnc_people", "calls_to_dnc_numbers", "calls_after_dnc_flag")
        )
        p99 = percentile(lat + stats.censored, 99)
        met = {
            "volunteers": self.connected >= TARGET_VOLUNTEERS,
            "p99": p99 is not None and p99 * 1000 <= TARGET_P99_MS,
            "no_double_claims": double_claims == 0
            and by_volunteer_multi == 0
            and stats.unpaired == 0,
            "no_dnc_calls": dnc_calls == 0,
            "nothing_lost": sum(
                self.checks[k]
                for k in (
                    "acked_outcomes_lost",
                    "acked_outcomes_changed",
                    "ended_calls_without_outcome",
                    "left_message_without_voicemail",
                )
            )
            == 0,
        }
        server_log = (self.log_dir / "gunicorn.log").read_text(errors="replace")
        problems = Counter(
            re.sub(r"\d+", "N", line.split(": ", 1)[-1])[:100]
            for line in server_log.splitlines()
            if re.search(
                r"Traceback|ERROR|WARNING|appears to be blocked|Worker failed"
                r"|^[\w.]+(Error|Exception|Detected|Violation)\b",
                line,
            )
        )
        mb = 1024 * 1024
        r = {
            "date": self.started.isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
            "settings": {
                k: getattr(args, k)
                for k in (
                    "volunteers", "people", "speed", "duration", "ramp", "talk_seconds",
                    "seed", "login", "db_pool_size", "redis_url", "app_root",
                )
            },  # fmt: skip
            "time_zone": f"{self.zone}|{self.state}",
            "code": git_state(),
            "machine": f"{os.cpu_count()} CPUs shared by server, emulator, PostgreSQL and client",
            "volunteers_connected": self.connected,
            "window_s": window,
            "drained": self.drained,
            "next_voter_ms": {
                "n": len(lat),
                "p50": _ms(percentile(lat, 50)),
                "p95": _ms(percentile(lat, 95)),
                "p99": _ms(percentile(lat, 99)),
                "max": _ms(max(lat) if lat else None),
                "still_waiting_at_end": len(stats.censored),
                "p99_counting_those_waiting": _ms(percentile(lat + stats.censored, 99)),
                "by_kind": {
                    k: {"n": len(v), "p50": _ms(percentile(v, 50)), "p99": _ms(percentile(v, 99))}
                    for k, v in sorted(stats.latency_kind.items())
                },
            },
            "first_voter_after_ready_ms": {
                "p50": _ms(percentile(stats.first_voter, 50)),
                "p99": _ms(percentile(stats.first_voter, 99)),
            },
            "submit_ack_ms": {
                "p50": _ms(percentile(stats.submit_ack, 50)),
                "p99": _ms(percentile(stats.submit_ack, 99)),
            },
            "client_loop_lag_ms": {
                "p50": _ms(percentile(stats.loop_lag, 50)),
                "p99": _ms(percentile(stats.loop_lag, 99)),
                "max": _ms(max(stats.loop_lag) if stats.loop_lag else None),
            },
            "rates": {
                "outcomes_per_s": self.counts["outcomes_in_window"] / window,
                "volunteer_outcomes_per_s": self.counts["volunteer_outcomes_in_window"] / window,
                "calls_per_s": self.counts["calls_in_window"] / window,
            },
            "counts": self.counts,
            "checks": {**self.checks, "targets_given_to_two_volunteers": by_volunteer_multi},
            "client": {
                "voter_cards": stats.voters,
                "pushes": stats.pushes,
            "stale_pushes_dropped": stats.stale,
                "submits": stats.submits,
                "submit_errors": dict(stats.submit_errors),
                "submit_retries": stats.submit_retries,
                "starved": dict(stats.starved),
                "stalls_nudged": stats.stalls,
                "unpaired_voter_changes": stats.unpaired,
                "disconnects": stats.disconnects,
                "errors": dict(stats.errors.most_common(10)),
            },
            "cpu_share": cpu,
            "peak_rss_mb": {k: v / mb for k, v in self.monitor.peak_rss.items()},
            "timings_s": self.timings,
            "server_log_problems": dict(problems.most_common(10)),
            "postgres_activity": self.activity.summary(),
            "emulator_stats": {
                k: self.emulator_stats.get(k)
                for k in ("calls_by_status", "calls_by_answered_by", "webhooks_sent",
                          "webhooks_failed")
            },
            "target_met": met,
            "logs": str(self.log_dir),
            "server_cmd": " ".join(self.processes.server_cmd),
            "server_env": {
                k: ("<random>" if "SECRET" in k or "TOKEN" in k else v)
                for k, v in sorted(self.server_env.items())
                if k.startswith(("PHONEBANK_", "TWILIO_", "GEVENT_"))
            },
            "emulator_cmd": " ".join(self.processes.emulator_cmd[:1] + ["-c", "<bootstrap>"]
                                     + self.processes.emulator_cmd[3:]),
        }  # fmt: skip
        self.result = r
        print(render(r))
        for item in stats.debug:
            print("debug:", item)
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2, default=str))
            log(f"results written to {args.json}")


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def render(r: dict) -> str:
    nv, rates, cpu, rss = r["next_voter_ms"], r["rates"], r["cpu_share"], r["peak_rss_mb"]
    c, k, cl = r["counts"], r["checks"], r["client"]

    def f(v, unit=" ms"):
        return "n/a" if v is None else f"{v:.1f}{unit}"

    yes = {True: "yes", False: "NO"}
    lines = [
        "",
        "=" * 78,
        f"phonebank volunteer benchmark — {r['date']}",
        "=" * 78,
        f"command:   {r['command']}",
        "settings:  " + ", ".join(f"{a}={b}" for a, b in r["settings"].items()),
        f"code:      {r['code']}",
        f"server:    {r['server_cmd']}",
        "server env: " + " ".join(f"{a}={b}" for a, b in r["server_env"].items()),
        f"emulator:  {r['emulator_cmd']}",
        f"people's time zone: {r['time_zone']} (chosen because it is now inside 08:00-21:00 there)",
        f"machine:   {r['machine']} — all numbers below share those cores",
        "",
        f"volunteers connected: {r['volunteers_connected']}; measured window "
        f"{r['window_s']:.1f} s{' (list drained)' if r['drained'] else ''}",
        "next-voter latency = from the volunteer becoming free (sending outcome.submit, or "
        "receiving the session.state push that takes the voter away) to receiving the "
        "session.state push with the next voter's card (client side, monotonic clock):",
        f"next-voter latency (n={nv['n']}): p50 {f(nv['p50'])}  p95 {f(nv['p95'])}  "
        f"p99 {f(nv['p99'])}  max {f(nv['max'])}",
    ]
    if nv["still_waiting_at_end"]:
        lines.append(
            f"    + {nv['still_waiting_at_end']} volunteers still waiting for a voter at the end; "
            f"counting their wait so far, p99 >= {f(nv['p99_counting_those_waiting'])}"
        )
    for kind, v in nv["by_kind"].items():
        lines.append(f"    after {kind:<12} n={v['n']:<6} p50 {f(v['p50'])}  p99 {f(v['p99'])}")
    lines += [
        f"first voter after Ready: p50 {f(r['first_voter_after_ready_ms']['p50'])}  "
        f"p99 {f(r['first_voter_after_ready_ms']['p99'])};  outcome.submit ack: "
        f"p50 {f(r['submit_ack_ms']['p50'])}  p99 {f(r['submit_ack_ms']['p99'])}",
        f"client event-loop lag: p50 {f(r['client_loop_lag_ms']['p50'])}  "
        f"p99 {f(r['client_loop_lag_ms']['p99'])}  max {f(r['client_loop_lag_ms']['max'])}",
        "",
        f"outcomes/s (database, window): {rates['outcomes_per_s']:.1f} "
        f"(by volunteers {rates['volunteer_outcomes_per_s']:.1f});  "
        f"calls/s: {rates['calls_per_s']:.1f}",
        f"calls total {c['calls_total']}, outcomes total {c['outcomes_total']}; "
        f"by outcome: {c['by_outcome']}",
        f"targets by status at the end: {c['targets_by_status']}",
        "",
        "double claims / duplicates (all must be 0):",
        f"    person in two calls at once {k['person_overlaps']}, outcome recorded twice "
        f"{k['outcomes_recorded_twice']}, target dialed twice {k['targets_called_twice']}, "
        f"person busy in two targets now {k['busy_targets_now']}, target given to two "
        f"volunteers {k['targets_given_to_two_volunteers']}",
        f"    volunteer given a 2nd voter while one was in hand: {k['session_overlaps']} "
        f"(database), {cl['unpaired_voter_changes']} (client: voter replaced without being "
        "freed first)",
        f"    attempts≠calls {k['attempt_count_mismatch']}, outcome≠history "
        f"{k['outcome_history_mismatch']}, people stuck in_call with no live call "
        f"{k['orphaned_in_call']}",
        f"do-not-call (all must be 0): flagged people called {k['calls_to_dnc_people']}, "
        f"listed numbers called {k['calls_to_dnc_numbers']}, called after a DNC outcome "
        f"{k['calls_after_dnc_flag']}",
        f"nothing lost (all must be 0): acknowledged outcomes missing {k['acked_outcomes_lost']}, "
        f"changed {k['acked_outcomes_changed']}; ended calls without an outcome "
        f"{k['ended_calls_without_outcome']}; left message without a voicemail "
        f"{k['left_message_without_voicemail']}",
        "",
        "CPU (user+sys ÷ wall, 1.0 = one core): "
        + ", ".join(f"{n} {v:.2f}" for n, v in cpu.items() if n not in ("machine", "others"))
        + f"; whole machine {cpu['machine']:.2f} of {os.cpu_count()}, of which other "
        f"processes {cpu['others']:.2f}",
        "peak RSS: " + ", ".join(f"{n} {v:.0f} MB" for n, v in rss.items()),
        f"client: {cl['voter_cards']} voter cards, {cl['pushes']} pushes "
        f"({cl['stale_pushes_dropped']} out of order, dropped), {cl['submits']} "
        f"submits, submit errors {cl['submit_errors'] or 0} "
        f"(retried {cl.get('submit_retries', 0)}), starved {cl['starved'] or 0}, "
        f"stalls nudged {cl['stalls_nudged']}, disconnects {cl['disconnects']}",
    ]
    if cl["errors"]:
        lines.append(f"client errors: {cl['errors']}")
    if r["server_log_problems"]:
        lines.append(f"server log warnings/errors: {r['server_log_problems']}")
    pa = r["postgres_activity"]
    lines.append(f"server's PostgreSQL connections (mean over the window): "
                 f"{pa['mean_connections_by_state']}")  # fmt: skip
    for q, n in pa["top_active_or_waiting"].items():
        lines.append(f"    {n:6.2f}  {q}")
    lines.append(f"emulator at the end: {r['emulator_stats']}")
    lines.append(f"set-up timings: {', '.join(f'{a} {b:.1f}' for a, b in r['timings_s'].items())}")
    met = r["target_met"]
    lines += [
        "",
        f"TARGET (>= {TARGET_VOLUNTEERS} concurrent volunteers, next-voter p99 <= "
        f"{TARGET_P99_MS:.0f} ms, zero double claims, zero DNC calls): "
        + ("MET" if all(met.values()) else "NOT MET"),
        "    " + ", ".join(f"{a} {yes[b]}" for a, b in met.items()),
        f"logs: {r['logs']}",
        "=" * 78,
    ]
    return "\n".join(lines)


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The options; bench/dashboard.py adds its own to the same parser."""
    p = argparse.ArgumentParser(
        description=description
        or "Simulated volunteers on a power-dialing campaign (see bench/README.md)."
    )
    p.add_argument("--volunteers", type=int, default=500)
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--speed", type=float, default=50.0, help="emulator time compression")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds (max)")
    p.add_argument("--database-url", default=os.environ.get("PHONEBANK_BENCH_ADMIN_URL",
                   DEFAULT_ADMIN_URL), help="PostgreSQL database to connect to for "
                   "CREATE/DROP DATABASE; the bench database is created next to it")  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the bench database")
    p.add_argument("--ramp", type=float, default=5.0, help="seconds over which volunteers "
                   "press Ready")  # fmt: skip
    p.add_argument("--talk-seconds", type=float, default=20.0, help="simulated seconds a "
                   "volunteer talks before saving (x0.5-1.5; divided by --speed)")  # fmt: skip
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--login", choices=["cookie", "form"], default="cookie", help="cookie: "
                   "server-side login sessions plus Flask-signed cookies (fast); form: the "
                   "real login form for every volunteer (one Argon2 verify each)")  # fmt: skip
    p.add_argument("--login-concurrency", type=int, default=8)
    p.add_argument("--connect-concurrency", type=int, default=50)
    p.add_argument("--stall-seconds", type=float, default=5.0, help="a free volunteer with no "
                   "next voter and no reason after this long presses Ready again")  # fmt: skip
    p.add_argument("--db-pool-size", type=int, default=None, help="PHONEBANK_DB_POOL_SIZE "
                   "for the server (default: the app's default)")  # fmt: skip
    p.add_argument("--redis-url", default=None, help="PHONEBANK_REDIS_URL for the server "
                   "(Socket.IO message queue; default none, as with one process)")  # fmt: skip
    p.add_argument("--server-log-level", default="INFO")
    p.add_argument("--emulator-log-limit", type=int, default=20_000)
    p.add_argument("--time-zone", default=None, help="force the people's IANA time zone")
    p.add_argument("--log-dir", default=None)
    p.add_argument("--json", default=None, help="also write the results here as JSON")
    p.add_argument("--profile", action="store_true", help="sample the server worker with "
                   "py-spy (pip install py-spy into the venv) during the measured window; "
                   "collapsed stacks go to <logs>/server-profile.txt")  # fmt: skip
    p.add_argument("--app-root", default=None, help="run the server from another checkout "
                   "(same schema), e.g. to compare a change to phonebank/ (A/B)")  # fmt: skip
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    bench = Bench(args)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return bench.run()
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; cleaning up")
        return 130
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
