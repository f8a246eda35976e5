"""Leads' dashboards watching a campaign while N simulated volunteers work it.

The calling loop is bench/volunteers.py's, imported and run as is (real gunicorn gevent server,
the Twilio emulator, PostgreSQL, one Socket.IO client per volunteer). Once the volunteers are
working, this adds dashboards in phases (``--dashboards 1,5,10,20``): for each count, that many
leads' Socket.IO clients connect, emit ``dashboard.watch`` and record every
``dashboard.volunteer`` and ``dashboard.figures`` push for ``--phase-seconds``; then they
disconnect and the next count follows, on the same server with the same volunteers. The
dashboard clients run in their own processes (``--dashboard-processes``), so their CPU is
neither the volunteers' event loop's nor the server's. See bench/README.md.

    .venv/bin/python bench/dashboard.py                                  # 500 volunteers
    .venv/bin/python bench/dashboard.py --volunteers 20 --phase-seconds 10
    .venv/bin/python bench/dashboard.py --volunteers 50 --dashboards 0,1,20,1

Per phase: changes (distinct (session_id, version) pairs pushed), pushes delivered, missing and
duplicated pushes per dashboard, server CPU per change, and the latency from ``state_since``
(stamped by the server) to the push's arrival (same machine clock).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import volunteers as vb  # noqa: E402  (bench/volunteers.py: the calling-loop benchmark)
from volunteers import (  # noqa: E402
    USER_AGENT,
    Bench,
    Monitor,
    Volunteer,
    cookies_direct,
    log,
    make_app,
    percentile,
    postgres_cpu,
)

TARGET_P95_MS = 500.0
AUDIO_TIME_LIMIT_S = 14400  # <Dial> timeLimit default (Twilio's, and the emulator's)
FLAT_TOLERANCE = 0.20  # "flat": the most-dashboards CPU per change within +20 % of the fewest
SERVER_LOG_PROBLEM = re.compile(
    r"Traceback|ERROR|WARNING|appears to be blocked|Worker failed"
    r"|^[\w.]+(Error|Exception|Detected|Violation)\b"
)  # the same lines bench/volunteers.py counts


# --- the dashboard clients, in their own processes -----------------------------------------


class DashboardClient:
    """One lead's dashboard page: connect, watch the campaign, record every push."""

    def __init__(self, index: int, cookie: str):
        self.index, self.cookie = index, cookie
        self.sio = None
        self.pushes: list[tuple] = []  # (session_id, version, state, state_since, arrival)
        self.figures: list[tuple] = []  # (arrival, computed_at)
        self.initial: dict[int, tuple] = {}  # the watch snapshot: session_id -> (version, ...)
        self.watched_at: float | None = None
        self.disconnects = 0
        self.errors: Counter = Counter()

    async def start(self, url: str, campaign_id: int, watch_timeout: float) -> dict:
        import socketio

        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("dashboard.volunteer", self.on_volunteer)
        self.sio.on("dashboard.figures", self.on_figures)
        self.sio.on("disconnect", self.on_disconnect)
        t0 = time.time()
        await self.sio.connect(
            url,
            headers={"Cookie": f"phonebank_session={self.cookie}", "User-Agent": USER_AGENT},
            transports=["websocket"],
            wait_timeout=60,
        )
        t1 = time.time()
        reply = await self.sio.call(
            "dashboard.watch", {"campaign_id": campaign_id}, timeout=watch_timeout
        )
        t2 = time.time()
        if not reply or not reply.get("ok"):
            raise RuntimeError(f"dashboard.watch: {reply and reply.get('error')}")
        self.watched_at = t2
        rows = reply["state"]["volunteers"]
        self.initial = {r["session_id"]: (r["version"], r["state_since"], r["state"]) for r in rows}
        return {
            "index": self.index,
            "connect_s": t1 - t0,
            "watch_s": t2 - t1,
            "rows": len(rows),
            "ack_bytes": len(json.dumps(reply)),
        }

    def on_volunteer(self, row: dict) -> None:
        at = time.time()
        try:
            self.pushes.append(
                (
                    row["session_id"],
                    row.get("version"),
                    row.get("state"),
                    row.get("state_since"),
                    at,
                )
            )
        except (KeyError, TypeError) as exc:
            self.errors[f"bad dashboard.volunteer: {exc!r}"[:120]] += 1

    def on_figures(self, data: dict) -> None:
        at = time.time()
        computed = ((data or {}).get("figures") or {}).get("computed_at")
        self.figures.append((at, computed))

    def on_disconnect(self, reason=None) -> None:
        self.disconnects += 1

    async def stop(self) -> None:
        if self.sio is not None and self.sio.connected:
            self.disconnects -= 1  # our own disconnect is not counted
            try:
                await asyncio.wait_for(self.sio.disconnect(), timeout=10)
            except Exception as exc:  # noqa: BLE001
                self.errors[f"disconnect: {type(exc).__name__}"] += 1

    def record(self) -> dict:
        return {
            "index": self.index,
            "pushes": self.pushes,
            "figures": self.figures,
            "initial": self.initial,
            "watched_at": self.watched_at,
            "disconnects": max(self.disconnects, 0),
            "errors": dict(self.errors),
        }


def dashboard_worker(conn) -> None:
    """A child process running some of the dashboards, driven over a pipe by the parent."""
    vb._die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl+C and tells us
    try:
        asyncio.run(_worker_loop(conn))
    except (EOFError, OSError):
        pass  # the parent went away


async def _worker_loop(conn) -> None:
    loop = asyncio.get_running_loop()
    clients: list[DashboardClient] = []
    lag: list[tuple[float, float]] = []  # (wall time, how late a 50 ms sleep woke up)

    async def measure_lag():
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            lag.append((time.time(), time.monotonic() - t - 0.05))

    lag_task = asyncio.ensure_future(measure_lag())
    try:
        while True:
            msg = await loop.run_in_executor(None, conn.recv)
            if msg[0] == "connect":
                _, url, campaign_id, watch_timeout, items = msg
                clients = [DashboardClient(i, cookie) for i, cookie in items]
                results = await asyncio.gather(
                    *(c.start(url, campaign_id, watch_timeout) for c in clients),
                    return_exceptions=True,
                )
                conn.send(
                    (
                        "connected",
                        [
                            r
                            if isinstance(r, dict)
                            else {"index": c.index, "error": f"{type(r).__name__}: {r}"[:200]}
                            for c, r in zip(clients, results, strict=True)
                        ],
                    )
                )
            elif msg[0] == "stop":
                await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
                conn.send(("records", [c.record() for c in clients], list(lag)))
                clients = []
                lag.clear()
            elif msg[0] == "exit":
                return
    finally:
        lag_task.cancel()


# --- analysis of one phase -----------------------------------------------------------------


def _timestamp(value: str | None, cache: dict) -> float | None:
    if value is None:
        return None
    ts = cache.get(value)
    if ts is None:
        ts = cache[value] = datetime.fromisoformat(value).timestamp()
    return ts


def analyse(t0: float, t1: float, records: list[dict], volunteer_pushes: list[tuple]) -> dict:
    """Latencies, counts, missing and duplicated pushes of one phase ([t0, t1], wall clock).

    ``records`` are the dashboards' recordings (from their connect until a grace period after
    t1); ``volunteer_pushes`` the volunteers' own ``session.state`` arrivals
    (session_id, version, wall time) over the same span.
    """
    cache: dict = {}
    volunteer_at: dict[tuple, float] = {}
    for sid, version, at in volunteer_pushes:
        volunteer_at.setdefault((sid, version), at)
    lat_all, lat_new, lat_vs_volunteer = [], [], []
    lat_new_by_state: dict[str, list[float]] = defaultdict(list)
    first_seen: dict[tuple, float] = {}
    per_dashboard: dict[int, dict] = {}
    unstamped: Counter = Counter()  # state word changed but state_since did not (first dash)
    out_of_order = 0
    failed = [r["index"] for r in records if r["watched_at"] is None]
    records = [r for r in records if r["watched_at"] is not None]  # the rest never watched
    first_index = min((r["index"] for r in records), default=None)
    for rec in sorted(records, key=lambda r: r["index"]):
        newest_since = {sid: _timestamp(s, cache) for sid, (_, s, _) in rec["initial"].items()}
        last = dict(rec["initial"])  # session_id -> (version, state_since, state)
        seen: Counter = Counter()
        in_window = 0
        for sid, version, state, since, at in sorted(rec["pushes"], key=lambda p: p[4]):
            key = (sid, version)
            seen[key] += 1
            ts = _timestamp(since, cache)
            new = ts is not None and ts > newest_since.get(sid, float("-inf"))
            if new:
                newest_since[sid] = ts
            prev = last.get(sid)
            older = prev is not None and version is not None and version < (prev[0] or 0)
            if t0 <= at <= t1:
                in_window += 1
                if key not in first_seen or at < first_seen[key]:
                    first_seen[key] = at
                if ts is not None:
                    lat_all.append(at - ts)
                    if new:
                        lat_new.append(at - ts)
                        lat_new_by_state[state].append(at - ts)
                if key in volunteer_at:
                    lat_vs_volunteer.append(at - volunteer_at[key])
                if older:
                    out_of_order += 1
                if (
                    rec["index"] == first_index
                    and prev is not None
                    and not older
                    and state != prev[2]
                    and since == prev[1]
                ):
                    unstamped[f"{prev[2]} -> {state}"] += 1
            if not older:
                last[sid] = (version, since, state)
        per_dashboard[rec["index"]] = {
            "in_window": in_window,
            "keys": set(seen),
            "duplicates": sum(n - 1 for n in seen.values() if n > 1),
            "figures": sum(1 for at, _ in rec["figures"] if t0 <= at <= t1),
            "figures_delay": [
                at - _timestamp(c, cache) for at, c in rec["figures"] if c and t0 <= at <= t1
            ],
            "disconnects": rec["disconnects"],
            "errors": rec["errors"],
        }
    changes = set(first_seen)
    missing = {i: len(changes - d["keys"]) for i, d in per_dashboard.items()}
    union = set().union(*(d["keys"] for d in per_dashboard.values())) if per_dashboard else set()
    # the volunteers' own pushes, well inside the phase, that no dashboard received at all
    volunteer_keys = {(s, v) for s, v, at in volunteer_pushes if t0 + 2 <= at <= t1}
    volunteer_changes = {(s, v) for s, v, at in volunteer_pushes if t0 <= at <= t1}
    missed_by_all = len(volunteer_keys - union) if per_dashboard else None
    counts = [d["in_window"] for d in per_dashboard.values()]
    figures_delay = [x for d in per_dashboard.values() for x in d["figures_delay"]]

    def pct(values):
        return {f"p{p}": _ms(percentile(values, p)) for p in (50, 95, 99)} | {
            "n": len(values),
            "max": _ms(max(values) if values else None),
        }

    return {
        "changes": len(changes),
        "volunteer_changes": len(volunteer_changes),
        "pushes": sum(counts),
        "pushes_per_dashboard": {"min": min(counts, default=0), "max": max(counts, default=0)},
        "missing": {i: n for i, n in missing.items() if n},
        "not_watching": failed,
        "missing_total": sum(missing.values()),
        "missed_by_all_dashboards": missed_by_all,
        "duplicates": sum(d["duplicates"] for d in per_dashboard.values()),
        "out_of_order": out_of_order,
        "latency_state_changes_ms": pct(lat_new),
        "latency_state_changes_by_state_ms": {
            k: pct(v) for k, v in sorted(lat_new_by_state.items(), key=lambda kv: -len(kv[1]))
        },
        "latency_all_pushes_ms": pct(lat_all),
        "behind_volunteer_ms": pct(lat_vs_volunteer),
        "state_changed_without_new_state_since": dict(unstamped.most_common()),
        "figures_pushes_per_dashboard": sorted({d["figures"] for d in per_dashboard.values()}),
        "figures_delay_ms": pct(figures_delay),
        "client_disconnects": sum(d["disconnects"] for d in per_dashboard.values()),
        "client_errors": dict(
            sum((Counter(d["errors"]) for d in per_dashboard.values()), Counter())
        ),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


# --- the benchmark -------------------------------------------------------------------------


class RecordingVolunteer(Volunteer):
    """bench/volunteers.py's volunteer, noting when each of its session.state pushes arrives."""

    audio_was_up = False

    def on_state(self, snap: dict) -> None:
        now = time.time()
        session = snap.get("session") or {}
        self.bench.volunteer_pushes.append((session.get("id"), snap.get("version"), now))
        up = bool((session.get("audio") or {}).get("up"))
        if self.audio_was_up and not up and not session.get("ended"):
            self.bench.audio_drops.append(now)  # the volunteer's browser audio leg went down
        self.audio_was_up = up
        super().on_state(snap)


def seed_leads(app, campaign_id: int, n: int) -> list[int]:
    """n leads assigned to the campaign (a lead watches only campaigns they are a member of)."""
    from sqlalchemy import insert, select

    from phonebank.extensions import db
    from phonebank.models import CampaignMember, Role, User

    now = datetime.now(UTC)
    with app.app_context():
        password_hash = db.session.scalar(select(User.password_hash).where(User.id == 1))
        ids = []
        for i in range(1, n + 1):
            user = User(
                email=f"lead{i}@bench.phonebank.test",
                name=f"Lead {i}",
                role=Role.LEAD,
                password_hash=password_hash,
                is_active_account=True,
                created_at=now,
            )
            db.session.add(user)
            db.session.flush()
            ids.append(user.id)
        db.session.execute(
            insert(CampaignMember.__table__),
            [{"campaign_id": campaign_id, "user_id": uid, "added_at": now} for uid in ids],
        )
        db.session.commit()
        db.session.remove()
    return ids


class DashboardBench(Bench):
    volunteer_class = RecordingVolunteer

    def __init__(self, args):
        super().__init__(args)
        self.volunteer_pushes: list[tuple] = []
        self.audio_drops: list[float] = []  # wall times a volunteer's audio leg went down
        self.phases: list[dict] = []
        self.workers: list[tuple] = []  # (process, parent end of the pipe)
        self.phase_error: str | None = None
        self.controller: threading.Thread | None = None

    # set-up, just before the volunteers connect
    async def drive(self, cookies):
        self.prepare_dashboards()
        # The volunteers' browser audio is a <Dial><Conference> leg with Twilio's default
        # 4-hour time limit, which the emulator compresses by --speed like everything else:
        # past it every audio leg drops and the calling loop stops (the bench volunteers do not
        # reconnect their audio). Phases that would run past it are skipped.
        self.audio_deadline = time.monotonic() + AUDIO_TIME_LIMIT_S / self.args.speed - 10
        self.controller = threading.Thread(target=self.run_phases, name="dashboards", daemon=True)
        self.controller.start()
        try:
            await super().drive(cookies)
        finally:
            self.end_window.set()

    def prepare_dashboards(self) -> None:
        args = self.args
        n = max(args.dashboard_counts)
        secret = self.server_env["PHONEBANK_SECRET_KEY"]
        app = make_app(self.db_url, secret)
        self.lead_ids = seed_leads(app, self.seeded.campaign_id, n) if n else []
        cookies = cookies_direct(app, self.lead_ids) if n else {}
        self.dash_cookies = [cookies[uid] for uid in self.lead_ids]
        context = multiprocessing.get_context("spawn")
        for _ in range(min(args.dashboard_processes, n)):
            parent, child = context.Pipe()
            process = context.Process(target=dashboard_worker, args=(child,), daemon=True)
            process.start()
            child.close()
            self.workers.append((process, parent))
        pids = {
            "server": self.processes.server_worker_pid,
            "server master": self.processes.server.pid,
            "emulator": self.processes.emulator.pid,
            "bench (volunteers)": os.getpid(),
        }
        pids |= {f"dashboards #{i + 1}": p.pid for i, (p, _) in enumerate(self.workers)}
        self.cpu = Monitor(pids)
        self.code_at_start = vb.git_state()  # others commit while we run: the server's code
        log(f"{n} leads seeded; {len(self.workers)} dashboard client processes started")

    # the phases, on their own thread while the volunteers work
    def run_phases(self) -> None:
        try:
            self._run_phases()
        except Exception as exc:  # noqa: BLE001 - reported
            self.phase_error = f"{type(exc).__name__}: {exc}"
            log(f"dashboard phases stopped: {self.phase_error}")
        finally:
            self.end_window.set()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the run is stopping; False if it is."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.stopping:
                return False
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
        return not self.stopping

    def _ask(self, worker: int, timeout: float):
        conn = self.workers[worker][1]
        if not conn.poll(timeout):
            raise RuntimeError(f"dashboard process {worker + 1} did not answer in {timeout:g} s")
        return conn.recv()

    def _run_phases(self) -> None:
        args = self.args
        while self.window_start == float("inf"):
            if not self._sleep(0.2):
                return
        deadline = self.window_start + args.duration
        log(f"volunteers working; dashboards in {args.warmup:g} s")
        if not self._sleep(args.warmup):
            return
        for number, count in enumerate(args.dashboard_counts, 1):
            need = args.phase_seconds + args.settle + args.grace + 10
            skip = None
            if time.monotonic() + need > deadline:
                skip = "--duration too short"
            elif time.monotonic() + need > self.audio_deadline:
                skip = (
                    "the volunteers' audio legs would reach the emulator's 4-hour call limit "
                    f"({AUDIO_TIME_LIMIT_S / args.speed:.0f} s of wall time at {args.speed:g}x)"
                )
            if skip:
                log(f"phase {number} ({count} dashboards) skipped: {skip}")
                self.phases.append({"dashboards": count, "skipped": skip})
                continue
            phase = self.one_phase(number, count)
            self.phases.append(phase)
            if not self._sleep(args.gap):
                return
        log("dashboard phases done")

    def one_phase(self, number: int, count: int) -> dict:
        args = self.args
        phase: dict = {"phase": number, "dashboards": count}
        assign: dict[int, list] = defaultdict(list)
        for j in range(count):
            assign[j % len(self.workers)].append((j, self.dash_cookies[j]))
        log(f"phase {number}: connecting {count} dashboards")
        t = time.time()
        vol_from = len(self.volunteer_pushes)
        for w, items in assign.items():
            self.workers[w][1].send(
                ("connect", self.server_url, self.seeded.campaign_id, args.watch_timeout, items)
            )
        acks = []
        for w in assign:
            kind, results = self._ask(w, args.watch_timeout + 120)
            acks += results
        phase["connect_wall_s"] = time.time() - t
        failed = [a for a in acks if "error" in a]
        ok = [a for a in acks if "error" not in a]
        phase["connected"] = len(ok)
        phase["connect_errors"] = Counter(a["error"] for a in failed)
        phase["watch_ack_ms"] = {
            "p50": _ms(percentile([a["watch_s"] for a in ok], 50)),
            "max": _ms(max((a["watch_s"] for a in ok), default=None)),
        }
        phase["snapshot"] = {
            "rows": max((a["rows"] for a in ok), default=None),
            "bytes": max((a["ack_bytes"] for a in ok), default=None),
        }
        if failed:
            log(f"phase {number}: {len(failed)} dashboards failed: {failed[0]['error']}")
        self._sleep(args.settle)

        # the measured phase
        log_path = self.log_dir / "gunicorn.log"
        log_from = log_path.stat().st_size
        lag_from = len(self.stats.loop_lag)
        phase["audio_up_at_start"] = sum(1 for v in self.volunteers if v.audio_was_up)
        self.cpu.mark(f"{number}:start", {"postgres": postgres_cpu(self.engine, self.db_name)})
        t0 = time.time()
        # connecting may have taken long: end the phase before the audio legs' time limit
        length = min(args.phase_seconds, self.audio_deadline - time.monotonic())
        if length < args.phase_seconds:
            log(f"phase {number}: shortened to {max(length, 0):.0f} s (audio time limit)")
        completed = self._sleep(max(length, 0.0)) and length >= args.phase_seconds
        t1 = time.time()
        self.cpu.mark(f"{number}:end", {"postgres": postgres_cpu(self.engine, self.db_name)})
        log_to = log_path.stat().st_size
        lag_to = len(self.stats.loop_lag)
        self._sleep(args.grace)  # pushes of the last changes still on their way are counted
        for w in assign:
            self.workers[w][1].send(("stop",))
        records, client_lag = [], []
        for w in assign:
            _, recs, lag = self._ask(w, 120)
            records += recs
            client_lag += [x for at, x in lag if t0 <= at <= t1]
        vol = self.volunteer_pushes[vol_from:]
        phase.update(analyse(t0, t1, records, vol))
        phase["completed"] = completed
        phase["audio_drops"] = sum(1 for at in self.audio_drops if t0 <= at <= t1)
        phase["t0"], phase["t1"] = t0, t1
        phase["seconds"] = t1 - t0
        (_, c0), (_, c1) = self.cpu.marks[f"{number}:start"], self.cpu.marks[f"{number}:end"]
        cpu = {k: c1[k] - c0.get(k, 0.0) for k in c1}
        cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
        phase["cpu_s"] = cpu
        phase["dashboard_client_lag_ms"] = {
            "p99": _ms(percentile(client_lag, 99)),
            "max": _ms(max(client_lag, default=None)),
        }
        phase["volunteer_client_lag_ms"] = {
            "p99": _ms(percentile(self.stats.loop_lag[lag_from:lag_to], 99))
        }
        with log_path.open("rb") as f:
            f.seek(log_from)
            chunk = f.read(max(0, log_to - log_from)).decode("utf-8", "replace")
        phase["server_log_problems"] = dict(
            Counter(
                re.sub(r"\d+", "N", line.split(": ", 1)[-1])[:100]
                for line in chunk.splitlines()
                if SERVER_LOG_PROBLEM.search(line)
            ).most_common(6)
        )
        lat = phase["latency_state_changes_ms"]
        log(f"phase {number}: {count} dashboards, {phase['changes']} changes, "
            f"{phase['pushes']} pushes, missing {phase['missing_total']}, latency p50 "
            f"{_f(lat['p50'])} p95 {_f(lat['p95'])}, server CPU {cpu['server']:.1f} s")  # fmt: skip
        return phase

    def cleanup(self) -> None:
        self.stopping = True
        self.end_window.set()
        for _process, conn in self.workers:
            try:
                conn.send(("exit",))
            except (OSError, ValueError):
                pass
        for process, conn in self.workers:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            conn.close()
        self.workers = []
        if self.controller is not None:
            self.controller.join(timeout=5)
        super().cleanup()

    # the report
    def report(self) -> None:
        print("\n### the calling loop during the whole run (bench/volunteers.py's report; its "
              "TARGET line is that benchmark's, not this one's)")  # fmt: skip
        super().report()
        self.calls_per_phase()
        summary = summarise(self.phases, self.args)
        r = {
            "date": self.started.isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
            "settings": {
                k: getattr(self.args, k)
                for k in (
                    "volunteers",
                    "people",
                    "speed",
                    "dashboard_counts",
                    "phase_seconds",
                    "warmup",
                    "settle",
                    "grace",
                    "dashboard_processes",
                )
            },  # fmt: skip
            "code": f"server started on {self.code_at_start}; at the end {self.result.get('code')}",
            "volunteers_connected": self.connected,
            "phase_error": self.phase_error,
            "phases": self.phases,
            "summary": summary,
        }
        print(render_dashboards(r))
        if self.args.json:
            out = {"calling_loop": self.result, "dashboards": r}
            Path(self.args.json).write_text(json.dumps(out, indent=2, default=str))
            log(f"results written to {self.args.json}")

    def calls_per_phase(self) -> None:
        from sqlalchemy import text

        query = text(
            "select count(*) from calls where campaign_id = :cid "
            "and created_at >= :t0 and created_at < :t1"
        )
        with self.engine.connect() as conn:
            for phase in self.phases:
                if "t0" not in phase:
                    continue
                t0 = datetime.fromtimestamp(phase["t0"], UTC)
                t1 = datetime.fromtimestamp(phase["t1"], UTC)
                n = conn.execute(query, {"cid": self.seeded.campaign_id, "t0": t0, "t1": t1})
                phase["calls_per_s"] = n.scalar() / max(phase["seconds"], 1e-9)


def summarise(phases: list[dict], args) -> dict:
    done = [p for p in phases if "t0" in p]
    for p in done:
        per = p["changes"] or p["volunteer_changes"]
        p["server_cpu_s"] = p["cpu_s"]["server"] + p["cpu_s"]["server master"]
        p["server_ms_per_change"] = 1000 * p["server_cpu_s"] / per if per else None
        p["postgres_ms_per_change"] = 1000 * p["cpu_s"]["postgres"] / per if per else None
        p["server_cores"] = p["server_cpu_s"] / max(p["seconds"], 1e-9)
        p["dashboard_client_cpu_s"] = sum(
            v for k, v in p["cpu_s"].items() if k.startswith("dashboards #")
        )
    watched = [p for p in done if p["dashboards"] > 0 and p["server_ms_per_change"] is not None]
    out: dict = {}
    if watched:
        lo_n = min(p["dashboards"] for p in watched)
        hi_n = max(p["dashboards"] for p in watched)

        def mean_ms(n):
            xs = [p["server_ms_per_change"] for p in watched if p["dashboards"] == n]
            return sum(xs) / len(xs)

        lo, hi = mean_ms(lo_n), mean_ms(hi_n)
        out["work"] = {
            "fewest": lo_n, "most": hi_n, "ms_fewest": lo, "ms_most": hi,
            "difference_ms": hi - lo, "difference_pct": 100 * (hi - lo) / lo if lo else None,
            "flat": hi_n > lo_n and hi <= lo * (1 + FLAT_TOLERANCE),
        }  # fmt: skip
        # least squares of CPU ms per change against the number of dashboards
        xs = [p["dashboards"] for p in watched]
        ys = [p["server_ms_per_change"] for p in watched]
        if len(set(xs)) > 1:
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
                (x - mx) ** 2 for x in xs
            )
            out["work"]["slope_ms_per_change_per_dashboard"] = slope
        p95s = {p["phase"]: p["latency_state_changes_ms"]["p95"] for p in watched}
        out["p95_met"] = all(v is not None and v <= TARGET_P95_MS for v in p95s.values())
        p95_all = {p["phase"]: p["latency_all_pushes_ms"]["p95"] for p in watched}
        out["p95_all_pushes_met"] = all(
            v is not None and v <= TARGET_P95_MS for v in p95_all.values()
        )
        out["missing_total"] = sum(p["missing_total"] for p in watched)
        out["missed_by_all"] = sum(p["missed_by_all_dashboards"] or 0 for p in watched)
        out["duplicates"] = sum(p["duplicates"] for p in watched)
    return out


def _f(v: float | None, unit: str = " ms") -> str:
    return "n/a" if v is None else f"{v:.0f}{unit}"


def render_dashboards(r: dict) -> str:
    s = r["summary"]
    lines = [
        "",
        "=" * 78,
        f"phonebank dashboard benchmark — {r['date']}",
        "=" * 78,
        f"command:   {r['command']}",
        "settings:  " + ", ".join(f"{a}={b}" for a, b in r["settings"].items()),
        f"code:      {r['code']}",
        f"volunteers working: {r['volunteers_connected']}; one phase per dashboard count, same "
        "server, same volunteers; dashboards = leads' Socket.IO clients in their own processes",
        "latency = push arrival (wall clock) - the row's state_since (stamped by the server, same "
        "machine clock). 'state changes': the first push carrying a new state_since for that "
        "volunteer; 'all pushes': every push (a push whose state_since did not move measures "
        "the age of the state, not delivery); 'behind volunteer': dashboard arrival - arrival "
        "of the same (session, version) session.state at the volunteer's own client.",
        "server CPU = gunicorn worker + master, user+sys, during the phase; changes = distinct "
        "(session_id, version) pairs pushed to the dashboards in the phase.",
    ]
    if r["phase_error"]:
        lines.append(f"PHASES STOPPED: {r['phase_error']}")
    for p in r["phases"]:
        lines.append("")
        if "t0" not in p:
            lines.append(f"phase: {p['dashboards']} dashboards — skipped ({p.get('skipped')})")
            continue
        cpu = p["cpu_s"]
        ls, la, lv = (p["latency_state_changes_ms"], p["latency_all_pushes_ms"],
                      p["behind_volunteer_ms"])  # fmt: skip
        per = p["pushes_per_dashboard"]
        block = [
            f"phase {p['phase']}: {p['dashboards']} dashboards, {p['seconds']:.1f} s"
            + ("" if p["completed"] else " (cut short: window end or audio time limit)")
            + (
                f" ({p['connected']} connected; watch ack p50 {_f(p['watch_ack_ms']['p50'])} "
                f"max {_f(p['watch_ack_ms']['max'])}, snapshot {p['snapshot']['rows']} rows / "
                f"{p['snapshot']['bytes'] or 0:,} bytes; connecting took "
                f"{p['connect_wall_s']:.1f} s)"
                if p["dashboards"]
                else " (volunteers only)"
            ),
            f"    volunteers with audio up at the start {p['audio_up_at_start']}, audio legs "
            f"dropped during the phase {p['audio_drops']}",
            f"    changes {p['changes']} (volunteers' own session.state: "
            f"{p['volunteer_changes']}), calls/s {p.get('calls_per_s', 0):.1f}; pushes delivered "
            f"{p['pushes']} (per dashboard {per['min']}..{per['max']})",
            f"    missing pushes {p['missing_total']}"
            + (f" {p['missing']}" if p["missing"] else "")
            + f", missed by every dashboard {p['missed_by_all_dashboards']}, duplicated "
            f"{p['duplicates']}, out of order {p['out_of_order']}, client disconnects "
            f"{p['client_disconnects']}",
            f"    server CPU {p['server_cpu_s']:.2f} s ({p['server_cores']:.2f} core) = "
            f"{_f(p['server_ms_per_change'] and p['server_ms_per_change'] * 1000, ' µs')} per "
            f"change; PostgreSQL {cpu['postgres']:.2f} s "
            f"({_f(p['postgres_ms_per_change'] and p['postgres_ms_per_change'] * 1000, ' µs')}"
            f" per change); emulator {cpu['emulator']:.2f} s, bench (volunteers) "
            f"{cpu['bench (volunteers)']:.2f} s, dashboard clients "
            f"{p['dashboard_client_cpu_s']:.2f} s; machine {cpu['machine']:.2f} s of "
            f"{os.cpu_count() * p['seconds']:.0f} (others {cpu['others']:.2f} s)",
            f"    latency, state changes (n={ls['n']}): p50 {_f(ls['p50'])}  p95 {_f(ls['p95'])}  "
            f"p99 {_f(ls['p99'])}  max {_f(ls['max'])}",
            "        by the new state: "
            + ", ".join(
                f"{k} p50 {_f(v['p50'])} p95 {_f(v['p95'])} (n={v['n']})"
                for k, v in p["latency_state_changes_by_state_ms"].items()
            ),
            f"    latency, all pushes    (n={la['n']}): p50 {_f(la['p50'])}  p95 {_f(la['p95'])}  "
            f"p99 {_f(la['p99'])}  max {_f(la['max'])}",
            f"    behind the volunteer's own push (n={lv['n']}): p50 {_f(lv['p50'])}  "
            f"p95 {_f(lv['p95'])}  p99 {_f(lv['p99'])}",
            f"    dashboard.figures per dashboard {p['figures_pushes_per_dashboard']}, "
            f"computed_at -> arrival p50 {_f(p['figures_delay_ms']['p50'])} "
            f"max {_f(p['figures_delay_ms']['max'])}",
            f"    client loop lag p99: dashboards {_f(p['dashboard_client_lag_ms']['p99'])}, "
            f"volunteers {_f(p['volunteer_client_lag_ms']['p99'])}",
        ]
        if not p["dashboards"]:  # volunteers only: no pushes to measure
            skip = ("    missing", "    latency", "        by", "    behind", "    dashboard.")
            block = [line for line in block if not line.startswith(skip)]
        lines += block
        if p["state_changed_without_new_state_since"]:
            lines.append(
                "    state word changed, state_since kept (first dashboard): "
                + ", ".join(
                    f"{k} {v}" for k, v in p["state_changed_without_new_state_since"].items()
                )
            )
        if p["connect_errors"]:
            lines.append(f"    dashboards that failed to watch: {dict(p['connect_errors'])}")
        if p["client_errors"]:
            lines.append(f"    client errors: {p['client_errors']}")
        if p["server_log_problems"]:
            lines.append(f"    server log warnings/errors in the phase: {p['server_log_problems']}")
    done = [p for p in r["phases"] if "t0" in p]
    if done:
        lines += ["", "dashboards  changes  pushes  server CPU s  µs/change  PG µs/change  "
                      "p50 ms  p95 ms  p99 ms  (state changes)"]  # fmt: skip
        if any(not p["dashboards"] for p in done):
            lines.append("(with 0 dashboards, changes = the volunteers' own session.state "
                         "versions)")  # fmt: skip
        for p in done:
            ls = p["latency_state_changes_ms"]
            ms = p["server_ms_per_change"]
            pg = p["postgres_ms_per_change"]
            lines.append(
                f"{p['dashboards']:>10}  {p['changes'] or p['volunteer_changes']:>7}  "
                f"{p['pushes']:>6}  "
                f"{p['server_cpu_s']:>12.2f}  {_f(ms and ms * 1000, ''):>9}  "
                f"{_f(pg and pg * 1000, ''):>12}  {_f(ls['p50'], ''):>6}  {_f(ls['p95'], ''):>6}  "
                f"{_f(ls['p99'], ''):>6}"
            )
    lines.append("")
    if "work" in s:
        w = s["work"]
        slope = w.get("slope_ms_per_change_per_dashboard")
        lines += [
            f"server CPU per change: {w['ms_fewest'] * 1000:.0f} µs with {w['fewest']} "
            f"dashboard(s), {w['ms_most'] * 1000:.0f} µs with {w['most']}: difference "
            f"{w['difference_ms'] * 1000:+.0f} µs ({w['difference_pct']:+.1f} %)"
            + (
                f"; fitted slope {slope * 1000:+.1f} µs per change per dashboard"
                if slope is not None
                else ""
            ),  # fmt: skip
            f"TARGET p95 <= {TARGET_P95_MS:.0f} ms (state changes, every phase): "
            + ("MET" if s["p95_met"] else "NOT MET")
            + f"   [all pushes: {'MET' if s['p95_all_pushes_met'] else 'NOT MET'}]",
            f"TARGET work per change flat ({w['most']} dashboards within +"
            f"{FLAT_TOLERANCE:.0%} of {w['fewest']}): "
            + ("MET" if w["flat"] else "NOT MET")
            + ("" if w["most"] > w["fewest"] else " (only one dashboard count measured)"),
            f"missing pushes {s['missing_total']}, missed by every dashboard "
            f"{s['missed_by_all']}, duplicated {s['duplicates']}",
        ]
    else:
        lines.append("no phase with dashboards was measured")
    lines.append("=" * 78)
    return "\n".join(lines)


def parse_args(argv=None):
    p = vb.build_parser("Leads' dashboards watching N simulated volunteers (bench/README.md).")
    p.set_defaults(duration=None)
    p.add_argument("--dashboards", default="1,5,10,20", help="dashboard counts, one measured "
                   "phase each, in this order (0 allowed: volunteers only)")  # fmt: skip
    p.add_argument("--phase-seconds", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds the volunteers work "
                   "before the first phase")  # fmt: skip
    p.add_argument("--settle", type=float, default=1.0, help="seconds between the last "
                   "dashboard's watch ack and the phase start")  # fmt: skip
    p.add_argument("--grace", type=float, default=5.0, help="seconds the dashboards keep "
                   "listening after a phase, for pushes still on their way")  # fmt: skip
    p.add_argument("--gap", type=float, default=2.0, help="seconds between phases")
    p.add_argument("--watch-timeout", type=float, default=180.0, help="seconds a dashboard "
                   "waits for its dashboard.watch ack before giving up")  # fmt: skip
    p.add_argument("--dashboard-processes", type=int, default=4, help="processes the "
                   "dashboard clients are spread over")  # fmt: skip
    args = p.parse_args(argv)
    try:
        args.dashboard_counts = [int(x) for x in args.dashboards.split(",") if x.strip()]
    except ValueError:
        p.error("--dashboards: a comma-separated list of counts, e.g. 1,5,10,20")
    if not args.dashboard_counts or min(args.dashboard_counts) < 0:
        p.error("--dashboards: a comma-separated list of counts >= 0")
    if args.duration is None:  # the calling window: warm-up and every phase, with room to spare
        # connecting can take minutes on a saturated server (watch acks time out at 180 s)
        per_phase = args.phase_seconds + args.settle + args.grace + args.gap
        per_phase += args.watch_timeout + 60
        args.duration = args.warmup + per_phase * len(args.dashboard_counts)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    bench = DashboardBench(args)

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
