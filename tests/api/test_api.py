"""The HTTP API through Flask's client, on SQLite and PostgreSQL: keys and scopes, people with
matching and versions, taggings, questions, canvasses, events, do-not-call and the change
feed. Every answer is checked against the OpenAPI description (``ApiClient``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from phonebank.api import keys
from phonebank.api.openapi import spec
from phonebank.models import ApiKey, ApiRequest, CampaignTarget, Person
from phonebank.supporters import services as supporters
from tests import factories
from tests.api.conftest import ApiClient
from tests.calling.helpers import enlist, make_campaign, make_person
from tests.conftest import make_app, sign_in

ANN = {
    "given_name": "Ann",
    "family_name": "Lee",
    "identifiers": ["van:1001"],
    "phone_numbers": [{"number": "(202) 555-0123", "number_type": "mobile"}],
    "email_addresses": [{"address": "Ann@Example.org"}],
    "postal_addresses": [
        {
            "address_lines": ["1 Main St"],
            "locality": "Washington",
            "region": "DC",
            "postal_code": "20001",
            "country": "US",
        }
    ],
    "custom_fields": {"ward": "6"},
    "tags": ["volunteer-lead"],
}


def test_the_description_covers_every_api_route():
    app = make_app("sqlite://")
    routes = {
        (
            rule.rule.removeprefix("/api/v1")
            .replace("<int:", "{")
            .replace("<path:", "{")
            .replace(">", "}"),
            method.lower(),
        )
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in spec()["paths"].items() for method in ops}
    assert routes == documented


def test_keys_are_hashed_scoped_revocable_and_cookies_open_nothing(db, app, make_key):
    token = make_key(["people:read"])
    stored = db.session.scalar(select(ApiKey))
    assert token not in (stored.secret_hash, stored.prefix) and token.startswith(stored.prefix)
    reader = ApiClient(app.test_client(), token)
    assert reader.call("GET", "/people", "/people").status_code == 200
    denied = reader.call("POST", "/people", "/people", json=ANN)
    assert denied.status_code == 403 and "people:write" in denied.get_json()["detail"]
    assert (
        ApiClient(app.test_client(), token + "x").call("GET", "/people", "/people").status_code
        == 401
    )
    nobody = ApiClient(app.test_client(), None).call("GET", "/people", "/people")
    assert nobody.status_code == 401 and nobody.headers["WWW-Authenticate"].startswith("Bearer")

    # A signed-in staff member's browser is not an API client.
    staff = factories.user(factories.Role.STAFF)
    db.session.commit()
    browser = app.test_client()
    sign_in(browser, staff.email)
    assert browser.get("/api/v1/people").status_code == 401

    keys.revoke_key(stored)
    db.session.commit()
    assert reader.call("GET", "/people", "/people").status_code == 401
    logged = db.session.scalar(select(func.count()).select_from(ApiRequest))
    assert logged == 6
    statuses = sorted(db.session.scalars(select(ApiRequest.status)))
    assert statuses == [200, 401, 401, 401, 401, 403]


def test_a_key_over_its_rate_gets_429_with_retry_after(db, app, make_key):
    keys.limiter._counts.clear()
    client = ApiClient(app.test_client(), make_key(["people:read"], rate=3))
    answers = [client.call("GET", "/people", "/people") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60


def test_create_matches_by_the_store_rules_and_says_how(db, local_api):
    created = local_api.call("POST", "/people", "/people", json=ANN)
    assert created.status_code == 201, created.get_json()
    ann = created.get_json()
    assert ann["matched_by"] is None
    assert ann["phone_numbers"][0]["number"] == "+12025550123"
    assert ann["email_addresses"][0]["address"] == "ann@example.org"
    assert "van:1001" in ann["identifiers"] and ann["tags"] == ["volunteer-lead"]
    assert created.headers["ETag"] == '"1"'

    by_id = local_api.call("POST", "/people", "/people", json={"identifiers": ["VAN:1001"]})
    assert by_id.status_code == 200 and by_id.get_json()["matched_by"] == "external_id"
    by_phone = local_api.call(
        "POST",
        "/people",
        "/people",
        json={
            "given_name": "ann",
            "family_name": "LEE",
            "phone_numbers": [{"number": "2025550123"}],
        },
    )
    assert by_phone.get_json()["matched_by"] == "phone"
    by_email = local_api.call(
        "POST",
        "/people",
        "/people",
        json={
            "given_name": "Ann",
            "family_name": "Lee",
            "email_addresses": [{"address": "ann@example.org"}],
        },
    )
    assert by_email.get_json()["matched_by"] == "email"
    other = local_api.call(
        "POST",
        "/people",
        "/people",
        json={
            "given_name": "Bob",
            "family_name": "Lee",
            "email_addresses": [{"address": "ann@example.org"}],
        },
    )
    assert other.status_code == 201  # same email, another name: another person
    assert {by_id.get_json()["id"], by_phone.get_json()["id"], by_email.get_json()["id"]} == {
        ann["id"]
    }
    assert db.session.scalar(select(func.count()).select_from(Person)) == 2


@pytest.mark.parametrize(
    "body, words",
    [
        ({"phone_numbers": [{"number": "12"}]}, "Phone number"),
        ({"phone_numbers": [{"number": "2025550123", "number_type": "pager"}]}, "number_type"),
        ({"identifiers": ["1001"]}, "system:value"),
        ({"surname": "x"}, "Unknown field"),
        ({"flags": {"vip": True}}, "flags"),
        ({"campaigns": [999]}, "no campaign 999"),
        ([], "JSON object"),
    ],
)
def test_bad_bodies_are_refused_and_write_nothing(db, local_api, body, words):
    answer = local_api.call("POST", "/people", "/people", json=body)
    assert answer.status_code in (400, 422)
    assert words in answer.get_json()["detail"]
    assert db.session.scalar(select(func.count()).select_from(Person)) == 0


def test_updates_need_the_current_version(db, api):
    ann = api.call("POST", "/people", "/people", json=ANN).get_json()
    path = f"/people/{ann['id']}"
    missing = api.call("PATCH", path, "/people/{person_id}", json={"given_name": "Anne"})
    assert missing.status_code == 428
    done = api.call(
        "PATCH", path, "/people/{person_id}", json={"given_name": "Anne"}, **{"If-Match": '"1"'}
    )
    assert done.status_code == 200 and done.get_json()["given_name"] == "Anne"
    assert done.headers["ETag"] == '"2"'
    stale = api.call(
        "PATCH", path, "/people/{person_id}", json={"given_name": "Annie"}, **{"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    # Another module's change (a volunteer's call, say) also makes a held version stale.
    person = db.session.get(Person, ann["id"])
    supporters.tag_person(person, "donor")
    db.session.commit()
    stale = api.call(
        "PATCH", path, "/people/{person_id}", json={"given_name": "Annie"}, **{"If-Match": '"2"'}
    )
    assert stale.status_code == 412
    got = api.call("GET", path, "/people/{person_id}")
    assert got.get_json()["given_name"] == "Anne" and got.headers["ETag"] == '"3"'
    flagged = api.call(
        "PATCH",
        path,
        "/people/{person_id}",
        json={"flags": {"do_not_call": True}},
        **{"If-Match": '"3"'},
    )
    assert flagged.get_json()["flags"]["do_not_call"] is True
    withdraw = api.call(
        "PATCH",
        path,
        "/people/{person_id}",
        json={"flags": {"do_not_call": False}},
        **{"If-Match": '"4"'},
    )
    assert withdraw.status_code == 422
    assert api.call("GET", "/people/999999", "/people/{person_id}").status_code == 404


def test_pages_neither_skip_nor_repeat_while_people_are_added(db, local_api):
    first = [supporters.create_person(f"P{i}", "Page") for i in range(7)]
    db.session.commit()
    seen, after = [], "0"
    while True:
        page = local_api.call("GET", f"/people?limit=3&after={after}", "/people").get_json()
        seen.extend(p["id"] for p in page["items"])
        supporters.create_person("Late", "Comer")  # added while the client pages
        db.session.commit()
        if "next" not in page:
            break
        after = page["next"]
    assert len(seen) == len(set(seen))
    assert {p.id for p in first} <= set(seen)
    since = quote((datetime.now(UTC) + timedelta(hours=1)).isoformat())
    empty = local_api.call("GET", f"/people?modified_since={since}", "/people").get_json()
    assert empty["items"] == []
    assert local_api.call("GET", "/people?limit=0", "/people").status_code == 400


def test_taggings_tags_questions_events_and_do_not_call(db, api):
    ann = api.call("POST", "/people", "/people", json=ANN).get_json()
    base = f"/people/{ann['id']}/taggings"
    assert (
        api.call("POST", base, "/people/{person_id}/taggings", json={"tag": "donor"}).status_code
        == 201
    )
    assert (
        api.call("POST", base, "/people/{person_id}/taggings", json={"tag": "donor"}).status_code
        == 200
    )
    listed = api.call("GET", base, "/people/{person_id}/taggings").get_json()["items"]
    assert {"tag": "donor"} in listed
    assert (
        api.call("DELETE", f"{base}/donor", "/people/{person_id}/taggings/{tag}").status_code == 204
    )
    assert (
        api.call("DELETE", f"{base}/donor", "/people/{person_id}/taggings/{tag}").status_code == 404
    )
    tags = api.call("GET", "/tags", "/tags").get_json()["items"]
    assert {t["name"] for t in tags} == {"volunteer-lead", "donor"}

    start = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    event = api.call(
        "POST", "/events", "/events", json={"title": "Rally", "start_date": start, "capacity": 40}
    )
    assert event.status_code == 201
    event_id = event.get_json()["id"]
    rsvp = api.call(
        "POST",
        f"/events/{event_id}/attendances",
        "/events/{event_id}/attendances",
        json={"person": ann["id"], "status": "yes"},
    )
    assert rsvp.status_code == 201 and rsvp.get_json()["status"] == "yes"
    bad = api.call(
        "POST",
        f"/events/{event_id}/attendances",
        "/events/{event_id}/attendances",
        json={"person": ann["id"], "status": "perhaps"},
    )
    assert bad.status_code == 422
    people_at = api.call(
        "GET", f"/events/{event_id}/attendances", "/events/{event_id}/attendances"
    ).get_json()["items"]
    assert [a["person"] for a in people_at] == [ann["id"]]
    assert api.call("GET", f"/events/{event_id}", "/events/{event_id}").status_code == 200
    assert api.call("GET", "/events", "/events").get_json()["items"][0]["title"] == "Rally"

    added = api.call(
        "POST",
        "/do_not_call",
        "/do_not_call",
        json={"number": "202-555-0177", "reason": "asked by email"},
    )
    assert added.status_code == 201 and added.get_json()["number"] == "+12025550177"
    listed = api.call("GET", "/do_not_call", "/do_not_call").get_json()["items"]
    assert [r["number"] for r in listed] == ["+12025550177"]
    assert api.call("POST", "/do_not_call", "/do_not_call", json={"number": "x"}).status_code == 422


def test_canvasses_show_calls_and_take_other_modules_contacts(db, api):
    from phonebank.calling import services as calling
    from phonebank.models import Call, CallStatus
    from tests.calling.helpers import open_session

    campaign = make_campaign("Canvass campaign")
    voter = make_person("Voter")
    enlist(campaign, voter)
    session = open_session(campaign)
    calling.present_next_voter(session)
    call = calling.prepare_call(session)
    call.status, call.provider_sid = CallStatus.COMPLETED, "CA" + "1" * 32
    db.session.flush()
    outcome = next(o for o in campaign.outcomes if o.code == "talked")
    calling.record_outcome(
        db.session.get(Call, call.id), outcome, answers={}, notes="nice", by=None
    )
    db.session.commit()

    listed = api.call("GET", f"/canvasses?campaign={campaign.id}", "/canvasses").get_json()
    assert [(c["person"], c["outcome"], c["notes"]) for c in listed["items"]] == [
        (voter.id, "talked", "nice")
    ]
    own = api.call(
        "POST",
        "/canvasses",
        "/canvasses",
        json={
            "person": voter.id,
            "contact_type": "door",
            "outcome": "supporter",
            "answers": {"Vote?": "Yes"},
            "occurred_at": "2026-11-01T15:00:00Z",
        },
    )
    assert own.status_code == 201 and own.get_json()["contact_type"] == "door"
    mine = api.call("GET", f"/canvasses?person={voter.id}", "/canvasses").get_json()["items"]
    assert [c["kind"] for c in mine] == ["call", "canvass"]
    questions = api.call("GET", f"/questions?campaign={campaign.id}", "/questions")
    assert questions.status_code == 200


def test_a_campaign_key_sees_only_its_campaign(db, app, make_key):
    alpha, beta = make_campaign("Alpha"), make_campaign("Beta")
    inside, outside = make_person("In"), make_person("Out")
    enlist(alpha, inside)
    enlist(beta, outside)
    db.session.commit()
    with pytest.raises(keys.KeyRefused):
        keys.create_key("Feed", ["changes:read"], by=None, campaign_id=alpha.id)
    client = ApiClient(app.test_client(), make_key(campaign_id=alpha.id))
    ids = [p["id"] for p in client.call("GET", "/people", "/people").get_json()["items"]]
    assert ids == [inside.id]
    assert client.call("GET", f"/people/{outside.id}", "/people/{person_id}").status_code == 404
    assert client.call("GET", "/changes", "/changes").status_code == 403
    added = client.call(
        "POST", "/people", "/people", json={"given_name": "New", "campaigns": [alpha.id]}
    )
    assert added.status_code == 201
    assert (
        db.session.scalar(
            select(CampaignTarget.campaign_id).where(
                CampaignTarget.person_id == added.get_json()["id"]
            )
        )
        == alpha.id
    )
    refused = client.call(
        "POST", "/people", "/people", json={"given_name": "Other", "campaigns": [beta.id]}
    )
    assert refused.status_code == 422


def test_the_change_feed_hands_out_every_change_once_in_order(db, api):
    ann = api.call("POST", "/people", "/people", json=ANN).get_json()
    api.call(
        "POST",
        f"/people/{ann['id']}/taggings",
        "/people/{person_id}/taggings",
        json={"tag": "donor"},
    )
    api.call("POST", "/do_not_call", "/do_not_call", json={"number": "2025550199"})
    feed = api.call("GET", "/changes?limit=2", "/changes").get_json()
    assert [c["type"] for c in feed["items"]] == ["person.created", "tagging.added"]
    assert feed["items"][0]["person"] == ann["id"]
    assert set(feed["items"][0]["data"]["changes"]) >= {"name", "phones", "emails", "addresses"}
    assert feed["items"][1]["data"]["tag"] == "volunteer-lead"
    rest = api.call("GET", f"/changes?after={feed['next']}", "/changes").get_json()
    assert [(c["type"], c["data"].get("tag")) for c in rest["items"]] == [
        ("tagging.added", "donor"),
        ("do_not_call.added", None),
    ]
    ids = [c["id"] for c in feed["items"] + rest["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 4
    at_end = api.call("GET", f"/changes?after={rest['next']}&wait=1", "/changes").get_json()
    assert at_end == {"items": [], "next": rest["next"]}
    only = api.call("GET", "/changes?types=do_not_call.added", "/changes").get_json()
    assert [c["type"] for c in only["items"]] == ["do_not_call.added"]
    assert api.call("GET", "/changes?types=nope", "/changes").status_code == 400


OPERATIONS = [
    (path, method.upper(), op["x-scope"])
    for path, ops in spec()["paths"].items()
    for method, op in ops.items()
    if "x-scope" in op
]


@pytest.mark.parametrize(
    "path, method, scope", OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS]
)
def test_every_operation_is_refused_without_its_scope(db, app, make_key, path, method, scope):
    from phonebank.models import ApiScope

    token = make_key([s.value for s in ApiScope if s.value != scope])
    client = ApiClient(app.test_client(), token)
    concrete = path.replace("{person_id}", "1").replace("{event_id}", "1").replace("{tag}", "x")
    answer = client.call(method, concrete, path, json={})
    assert answer.status_code == 403, (method, path, answer.get_json())
    assert scope in answer.get_json()["detail"]
