"""The results benchmark: a campaign with a million calls, its results page and its exports.

Creates a PostgreSQL database, migrates it with ``flask db upgrade``, and seeds in bulk with
SQL (``generate_series``): 500 volunteers, 250,000 people on the call list and ``--calls``
calls (default 1,000,000) over 14 days with the field's outcome mix, survey answers on the
contacts (a main single-choice question, a multiple choice, a second single choice, a text
question). The results tallies are then counted the way ``tallies.rebuild`` counts them, but
in one SQL statement per table (a Python rebuild of a million calls is measured separately
with ``--rebuild-sample``); the benchmark checks the tallied figures against the calls.

Then it starts the production server (``gunicorn -k gevent -w 1``), signs in as staff and
times the results pages (the whole campaign, one week, with a crosstab; first and repeated
requests), and runs the calls and people exports through ``flask exports run`` as the web
process would, sampling the export process's memory.

    .venv/bin/python bench/results.py                    # 1,000,000 calls
    .venv/bin/python bench/results.py --calls 100000     # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests
from sqlalchemy import create_engine, text

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
OUT_DIR = REPO_ROOT / "bench" / "out"
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PAGE_TARGET_S = 1.0
EXPORT_TARGET_S = 60.0
EXPORT_TARGET_MB = 200
MB = 1024 * 1024
ZONE = "America/New_York"


def log(message: str) -> None:
    print(f"[results bench] {message}", file=sys.stderr, flush=True)


def env_for(url: str, secret: str, port: int | None = None, **extra: str) -> dict[str, str]:
    """The production server's settings for a bench database (``extra``: more of them)."""
    return {
        **os.environ,
        "PHONEBANK_ENV": "production",
        "PHONEBANK_SECRET_KEY": secret,
        "PHONEBANK_DATABASE_URL": url,
        "PHONEBANK_PUBLIC_URL": f"http://127.0.0.1:{port}" if port else "http://127.0.0.1",
        "PHONEBANK_SECURE_COOKIES": "false",
        "PHONEBANK_UPLOAD_DIR": str(OUT_DIR / "results-uploads"),
        "PHONEBANK_IMPORT_RUNNER": "worker",
        "PHONEBANK_TIME_ZONE": ZONE,
        "PHONEBANK_LOG_LEVEL": "WARNING",
        **extra,
    }


SEED = """
insert into users (email, name, role, password_hash, is_active_account, created_at)
select 'v' || g || '@bench.test', 'Volunteer ' || g, 'volunteer', :hash, true, now()
from generate_series(1, 500) g;
insert into users (email, name, role, password_hash, is_active_account, created_at)
values ('staff@bench.test', 'Bench Staff', 'staff', :hash, true, now());
insert into people (first_name, last_name, do_not_call, do_not_email, deceased, moved,
  created_at, updated_at)
select 'P' || g, 'Bench', false, false, false, false, now(), now()
from generate_series(1, :people) g;
insert into phones (person_id, number, type, status, time_zones, source, created_at, updated_at)
select id, '+1212' || lpad((5550000 + id)::text, 7, '0'), 'mobile', 'ok', :zone, '', now(), now()
from people;
insert into external_ids (person_id, system, value) select id, 'van', 'V' || id from people;
insert into campaign_targets (campaign_id, person_id, added_at, zone_key, status, priority,
  due_at, attempts, tried_phone_ids)
select :campaign, id, now(), :zone || '|NY',
  case when id % 5 = 0 then 'queued' else 'done' end, 1, now(), 2, '[]'
from people;
"""

CALLS = """
with v as (select min(id) lo from users where role = 'volunteer'),
t as (select min(id) lo, count(*) n from campaign_targets where campaign_id = :campaign),
o as (select array_agg(id order by position) ids from outcomes where campaign_id = :campaign),
c as (
  select g, (random() * 1000)::int r,
    now() - interval '14 days' + (g::float / :calls) * interval '14 days'
      + (random() * interval '1 hour') at_
  from generate_series(1, :calls) g
)
insert into calls (campaign_id, target_id, person_id, phone_id, volunteer_id, manual,
  provider_sid, status, last_sequence, answered_by, voicemail_left, created_at, dialed_at,
  answered_at, ended_at, duration_seconds, end_reason, outcome_id, outcome_at, answers,
  notes)
select :campaign, t.lo + (c.g % t.n), ct.person_id, ph.id, v.lo + (c.g % 500), false,
  'CA' || md5(c.g::text), 'completed', 3,
  case when c.r < 200 then 'human' when c.r < 480 then 'machine_end_beep' else null end,
  c.r between 200 and 399, c.at_, c.at_, c.at_ + interval '20 seconds',
  c.at_ + interval '60 seconds', case when c.r < 480 then 30 + c.r % 90 else null end,
  'completed',
  o.ids[case when c.r < 140 then 1 when c.r < 170 then 2 when c.r < 180 then 3
             when c.r < 200 then 4 when c.r < 400 then 8 when c.r < 480 then 7
             when c.r < 530 then 6 when c.r < 880 then 5 when c.r < 950 then 10 else 9 end],
  c.at_ + interval '70 seconds',
  case when c.r < 200 then jsonb_build_object(
      CAST(:q1 AS text), (array['Strong yes','Lean yes','Undecided','No'])[1 + c.r % 4],
      CAST(:q2 AS text), case when c.r % 3 = 0 then jsonb_build_array('Phone banking', 'Canvassing')
                else jsonb_build_array('Donating') end,
      CAST(:q3 AS text), (array['Yes','No'])[1 + c.r % 2],
      CAST(:q4 AS text), 'Said "call again", maybe — ' || c.g)
    else '{}'::jsonb end,
  ''
from c, v, t, o, campaign_targets ct, phones ph
where ct.id = t.lo + (c.g % t.n) and ph.person_id = ct.person_id;
"""

TALLIES = """
insert into call_tallies (campaign_id, local_hour, volunteer_id, outcome_id, calls, dials,
  contacts, ids, machines, talk_seconds)
select c.campaign_id, to_char(c.dialed_at at time zone :zone, 'YYYY-MM-DD"T"HH24'),
  c.volunteer_id, coalesce(c.outcome_id, 0), count(*), count(*),
  count(*) filter (where o.bucket = 'contact'),
  count(*) filter (where o.bucket = 'contact' and c.answers ? CAST(:q1 AS text)),
  count(*) filter (where c.answered_by like 'machine%'),
  coalesce(sum(c.duration_seconds) filter (where o.bucket = 'contact'
    and coalesce(c.answered_by, '') not like 'machine%'), 0)
from calls c left join outcomes o on o.id = c.outcome_id
where c.campaign_id = :campaign group by 1, 2, 3, 4;
insert into answer_tallies (campaign_id, local_day, volunteer_id, question_id, answer, main,
  count)
select campaign_id, day, volunteer_id, question_id, answer, main, count(*) from (
  select c.campaign_id, to_char(c.dialed_at at time zone :zone, 'YYYY-MM-DD') as day,
    c.volunteer_id, a.key::int question_id,
    case when q.kind = 'text' then '' when jsonb_typeof(a.value) = 'array' then e.value
         else a.value #>> '{}' end answer,
    coalesce(c.answers ->> CAST(:q1 AS text), '') main
  from calls c join outcomes o on o.id = c.outcome_id and o.bucket = 'contact'
  cross join lateral jsonb_each(c.answers) a
  join survey_questions q on q.id = a.key::int
  left join lateral jsonb_array_elements_text(
    case when jsonb_typeof(a.value) = 'array' then a.value || '[""]'::jsonb
         else '[null]'::jsonb end) e on true
  where c.campaign_id = :campaign
) x where answer is not null group by 1, 2, 3, 4, 5, 6;
"""


def seed(url: str, secret: str, people: int, calls: int) -> dict:
    from phonebank import create_app

    app = create_app(
        {
            "ENV_NAME": "production",
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secret,
            "PUBLIC_URL": "http://127.0.0.1",
            "TIME_ZONE": ZONE,
        }
    )
    with app.app_context():
        from phonebank.auth.services import hash_password
        from phonebank.campaigns import services as campaigns
        from phonebank.extensions import db
        from phonebank.models import QuestionKind, SurveyQuestion

        campaign = campaigns.create_campaign("Results bench", caller_id="+12025550100")
        questions = [
            SurveyQuestion(campaign=campaign, position=1, kind=QuestionKind.SINGLE,
                           prompt="How will you vote?", is_main=True,
                           choices=["Strong yes", "Lean yes", "Undecided", "No"]),
            SurveyQuestion(campaign=campaign, position=2, kind=QuestionKind.MULTIPLE,
                           prompt="How can you help?",
                           choices=["Phone banking", "Canvassing", "Donating"]),
            SurveyQuestion(campaign=campaign, position=3, kind=QuestionKind.SINGLE,
                           prompt="Coming on Saturday?", choices=["Yes", "No"]),
            SurveyQuestion(campaign=campaign, position=4, kind=QuestionKind.TEXT,
                           prompt="Anything else?"),
        ]  # fmt: skip
        db.session.add_all(questions)
        db.session.commit()
        ids = {"campaign": campaign.id, **{f"q{i + 1}": str(q.id) for i, q in enumerate(questions)}}
        password = secrets.token_urlsafe(12)
        values = {"hash": hash_password(password), "people": people, "zone": ZONE, **ids}
        engine = db.engine
        with engine.begin() as conn:
            for statement in SEED.split(";\n"):
                if statement.strip():
                    conn.execute(text(statement), values)
        t = time.monotonic()
        with engine.begin() as conn:
            conn.execute(text(CALLS), {**values, "calls": calls})
        log(f"{calls:,} calls inserted in {time.monotonic() - t:.0f} s")
        t = time.monotonic()
        with engine.begin() as conn:
            for statement in TALLIES.split(";\n"):
                if statement.strip():
                    conn.execute(text(statement), values)
            conn.execute(
                text("update campaigns set tallies_zone = :zone where id = :campaign"), values
            )
            conn.execute(text("analyze"))
        log(f"tallies counted in {time.monotonic() - t:.0f} s")
        check_tallies(engine, ids)
        db.engine.dispose()
    return {**ids, "password": password}


def check_tallies(engine, ids: dict) -> None:
    """The tallies say what the calls say (the pages read only the tallies)."""
    with engine.connect() as conn:
        direct = conn.execute(
            text(
                "select count(*), count(*) filter (where o.bucket = 'contact'), count(*) filter "
                "(where o.bucket = 'contact' and c.answers ? CAST(:q1 AS text)) from calls c "
                "join outcomes o on o.id = c.outcome_id where c.campaign_id = :campaign"
            ),
            ids,
        ).one()
        tallied = conn.execute(
            text(
                "select sum(calls), sum(contacts), sum(ids) from call_tallies "
                "where campaign_id = :campaign"
            ),
            ids,
        ).one()
    assert tuple(direct) == tuple(int(v) for v in tallied), (direct, tallied)
    log(f"tallies agree with the calls: {tuple(direct)} (calls, contacts, IDs)")


def start_server(
    url: str, secret: str, log_name: str = "results-gunicorn.log", **extra: str
) -> tuple[subprocess.Popen, int]:
    """``gunicorn -k gevent -w 1`` on a free port, once it answers ``/healthz``."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_file = open(OUT_DIR / log_name, "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b",
         f"127.0.0.1:{port}", "phonebank.wsgi:app"],
        cwd=REPO_ROOT, env=env_for(url, secret, port, **extra), stdout=log_file,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(300):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                return server, port
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def sign_in(base: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(base + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = session.post(
        base + "/login",
        data={"csrf_token": token, "email": "staff@bench.test", "password": password},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.status_code
    return session


def time_pages(base: str, session: requests.Session, ids: dict, repeat: int) -> dict:
    from datetime import date, timedelta

    today = date.today()
    week = f"start={(today - timedelta(days=7)).isoformat()}&end={today.isoformat()}"
    pages = {
        "whole campaign": f"/results/campaigns/{ids['campaign']}",
        "one week": f"/results/campaigns/{ids['campaign']}?{week}",
        "with crosstab": f"/results/campaigns/{ids['campaign']}?crosstab={ids['q2']}",
        "all campaigns": "/results",
    }
    timings = {}
    for name, path in pages.items():
        seconds = []
        for _ in range(repeat):
            t = time.monotonic()
            response = session.get(base + path, timeout=120)
            seconds.append(time.monotonic() - t)
            assert response.status_code == 200, (path, response.status_code)
        timings[name] = {
            "first_s": round(seconds[0], 3),
            "median_s": round(statistics.median(seconds), 3),
            "max_s": round(max(seconds), 3),
        }
        log(f"page {name}: first {seconds[0]:.3f} s, median {statistics.median(seconds):.3f} s")
    return timings


def run_export(url: str, secret: str, session, base: str, ids: dict, kind: str) -> dict:
    """Queue an export from the page, then run it as the web process would, sampling RSS."""
    page = session.get(f"{base}/results/campaigns/{ids['campaign']}", timeout=60).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{base}/results/campaigns/{ids['campaign']}/exports",
        data={"csrf_token": token, "kind": kind, "full_numbers": "1"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    job_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    t = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "phonebank.wsgi", "exports", "run", str(job_id)],
        cwd=REPO_ROOT, env=env_for(url, secret), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak = [0]

    def sample():
        process = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                peak[0] = max(peak[0], process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = child.communicate()
    seconds = time.monotonic() - t
    sampler.join()
    assert child.returncode == 0, stderr[-2000:]
    status = session.get(f"{base}/results/exports/{job_id}/status", timeout=30).json()
    download = session.get(f"{base}/results/exports/{job_id}/download", timeout=300, stream=True)
    size = sum(len(chunk) for chunk in download.iter_content(1 << 20))
    result = {
        "rows": status["rows"],
        "seconds": round(seconds, 1),
        "rows_per_s": round(status["rows"] / seconds),
        "peak_rss_mb": round(peak[0] / MB, 1),
        "file_mb": round(size / MB, 1),
    }
    log(f"export {kind}: {result}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page")
    parser.add_argument("--database-url", default=ADMIN_URL)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    name = f"phonebank_results_bench_{secrets.token_hex(4)}"
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
        t = time.monotonic()
        ids = seed(url, secret, args.people, args.calls)
        seed_s = time.monotonic() - t
        server, port = start_server(url, secret)
        base = f"http://127.0.0.1:{port}"
        session = sign_in(base, ids["password"])
        report = {
            "calls": args.calls,
            "people": args.people,
            "seed_s": round(seed_s),
            "pages": time_pages(base, session, ids, args.repeat),
            "exports": {
                kind: run_export(url, secret, session, base, ids, kind)
                for kind in ("calls", "people", "van")
            },
        }
        worst_page = max(p["max_s"] for p in report["pages"].values())
        calls = report["exports"]["calls"]
        report["targets"] = {
            f"results page under {PAGE_TARGET_S:.0f} s": worst_page < PAGE_TARGET_S,
            f"calls export under {EXPORT_TARGET_S:.0f} s": calls["seconds"] < EXPORT_TARGET_S,
            f"calls export under {EXPORT_TARGET_MB} MB": calls["peak_rss_mb"] < EXPORT_TARGET_MB,
        }
        print(json.dumps(report, indent=2) if args.json else render(report))
        return 0 if all(report["targets"].values()) else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def render(report: dict) -> str:
    head = f"results benchmark: {report['calls']:,} calls, {report['people']:,} people"
    lines = [f"{head} (seeded in {report['seed_s']} s)", "", "pages (first / median / slowest):"]
    for name, p in report["pages"].items():
        lines.append(
            f"  {name:16} {p['first_s']:.3f} s / {p['median_s']:.3f} s / {p['max_s']:.3f} s"
        )
    lines.append("")
    lines.append("exports (rows, seconds, rows/s, peak RSS of the export process, file size):")
    for kind, e in report["exports"].items():
        lines.append(
            f"  {kind:8} {e['rows']:>9,} rows  {e['seconds']:6.1f} s  {e['rows_per_s']:>7,}/s  "
            f"{e['peak_rss_mb']:6.1f} MB  {e['file_mb']:6.1f} MB"
        )
    lines.append("")
    for target, met in report["targets"].items():
        lines.append(f"  {'met' if met else 'NOT met'}: {target}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
