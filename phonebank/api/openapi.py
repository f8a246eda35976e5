"""The API's OpenAPI 3.1 description, served at ``/api/v1/openapi.json``.

Every schema lists all its fields as required: ``tests/api`` checks each real response against
the schema documented for it, so the description cannot drift from what the code answers.
"""

from __future__ import annotations

from typing import Any

from phonebank.models import ApiScope, PhoneType, QuestionKind, RsvpStatus
from phonebank.supporters.changes import EVENT_TYPES
from phonebank.supporters.services import PERSON_FLAGS

STRING = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_INT = {"type": ["integer", "null"]}


def obj(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(name: str) -> dict[str, Any]:
    return obj(
        {
            "items": {"type": "array", "items": ref(name)},
            "next": {"type": "string", "description": "cursor for the next page (`after`)"},
        },
        optional=("next",),
    )


SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": STRING, "detail": STRING}),
    "Person": obj(
        {
            "id": INT,
            "version": {**INT, "description": "raised by every change; the ETag"},
            "given_name": STRING,
            "family_name": STRING,
            "identifiers": {
                "type": "array",
                "items": STRING,
                "description": '"system:value", starting with "phonebank:<id>"',
            },
            "phone_numbers": {
                "type": "array",
                "items": obj(
                    {
                        "number": {**STRING, "description": "E.164"},
                        "number_type": {"enum": [t.value for t in PhoneType]},
                        "status": {"enum": ["ok", "bad"]},
                        "primary": BOOL,
                    }
                ),
            },
            "email_addresses": {
                "type": "array",
                "items": obj(
                    {
                        "address": STRING,
                        "status": {"enum": ["subscribed", "unsubscribed", "bouncing"]},
                        "primary": BOOL,
                    }
                ),
            },
            "postal_addresses": {
                "type": "array",
                "items": obj(
                    {
                        "address_lines": {"type": "array", "items": STRING},
                        "locality": STRING,
                        "region": STRING,
                        "postal_code": STRING,
                        "country": STRING,
                        "time_zone": STRING,
                        "primary": BOOL,
                    }
                ),
            },
            "custom_fields": {"type": "object", "additionalProperties": STRING},
            "tags": {"type": "array", "items": STRING},
            "flags": obj({name: BOOL for name in PERSON_FLAGS}),
            "merged_into": NULLABLE_INT,
            "created_date": TIME,
            "modified_date": TIME,
        }
    ),
    "PersonWritten": {
        "allOf": [
            ref("Person"),
            obj(
                {
                    "matched_by": {
                        "enum": ["external_id", "phone", "email", None],
                        "description": "which matching rule found an existing person (null: "
                        "created)",
                    }
                }
            ),
        ]
    },
    "PersonInput": {
        "type": "object",
        "properties": {
            "given_name": STRING,
            "family_name": STRING,
            "identifiers": {"type": "array", "items": STRING},
            "phone_numbers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "number": STRING,
                        "number_type": {"enum": [t.value for t in PhoneType]},
                    },
                    "required": ["number"],
                },
            },
            "email_addresses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "address": STRING,
                        "status": {"enum": ["subscribed", "unsubscribed", "bouncing"]},
                    },
                    "required": ["address"],
                },
            },
            "postal_addresses": {"type": "array", "items": {"type": "object"}},
            "custom_fields": {"type": "object", "additionalProperties": STRING},
            "tags": {"type": "array", "items": STRING},
            "flags": {"type": "object", "additionalProperties": BOOL},
            "campaigns": {
                "type": "array",
                "items": INT,
                "description": "campaigns whose call lists the person joins",
            },
        },
        "additionalProperties": False,
    },
    "Tagging": obj({"tag": STRING}),
    "TaggingWritten": obj({"tag": STRING, "added": BOOL}),
    "Tag": obj({"id": INT, "name": STRING}),
    "Question": obj(
        {
            "id": INT,
            "campaign": INT,
            "kind": {"enum": [k.value for k in QuestionKind]},
            "prompt": STRING,
            "choices": {"type": "array"},
            "main": BOOL,
        }
    ),
    "Answer": obj(
        {
            "question_id": {**NULLABLE_INT, "description": "phonebank's question, if it is one"},
            "question": STRING,
            "answer": {"description": "a choice, a list of choices, or text"},
        }
    ),
    "Canvass": obj(
        {
            "id": INT,
            "person": INT,
            "campaign": NULLABLE_INT,
            "module": STRING,
            "kind": {"enum": ["call", "call_correction", "canvass"]},
            "occurred_at": TIME,
            "contact_type": STRING,
            "outcome": {"type": ["string", "null"]},
            "bucket": {"type": ["string", "null"]},
            "answers": {"type": "array", "items": ref("Answer")},
            "notes": STRING,
            "details": {"type": "object"},
        }
    ),
    "CanvassInput": {
        "type": "object",
        "properties": {
            "person": INT,
            "contact_type": STRING,
            "outcome": STRING,
            "answers": {
                "type": ["array", "object"],
                "description": 'a list of {"question", "answer"} (or question → answer)',
            },
            "notes": STRING,
            "occurred_at": TIME,
            "campaign": INT,
        },
        "required": ["person"],
    },
    "Event": obj(
        {
            "id": INT,
            "title": STRING,
            "start_date": TIME,
            "end_date": NULLABLE_TIME,
            "location": STRING,
            "postal_code": STRING,
            "time_zone": STRING,
            "capacity": NULLABLE_INT,
        }
    ),
    "EventInput": {
        "type": "object",
        "properties": {
            "title": STRING,
            "start_date": TIME,
            "end_date": TIME,
            "location": STRING,
            "postal_code": STRING,
            "time_zone": STRING,
            "capacity": INT,
        },
        "required": ["title", "start_date"],
    },
    "Attendance": obj(
        {
            "id": INT,
            "event": INT,
            "person": INT,
            "status": {"enum": [s.value for s in RsvpStatus]},
            "source": STRING,
            "modified_date": TIME,
        }
    ),
    "AttendanceInput": {
        "type": "object",
        "properties": {"person": INT, "status": {"enum": [s.value for s in RsvpStatus]}},
        "required": ["person", "status"],
    },
    "DoNotCall": obj({"number": STRING, "reason": STRING, "source": STRING, "added_date": TIME}),
    "DoNotCallInput": {
        "type": "object",
        "properties": {"number": STRING, "reason": STRING},
        "required": ["number"],
    },
    "Change": obj(
        {
            "id": {**INT, "description": "the event's id and its cursor: de-duplicate by it"},
            "type": {"enum": list(EVENT_TYPES)},
            "occurred_at": TIME,
            "person": NULLABLE_INT,
            "data": {"type": "object"},
        }
    ),
    "Changes": obj(
        {
            "items": {"type": "array", "items": ref("Change")},
            "next": {"type": "string", "description": "pass as `after` to continue"},
        }
    ),
    "PersonPage": page_of("Person"),
    "TagPage": page_of("Tag"),
    "CanvassPage": page_of("Canvass"),
    "EventPage": page_of("Event"),
    "AttendancePage": page_of("Attendance"),
    "DoNotCallPage": page_of("DoNotCall"),
    "Questions": obj({"items": {"type": "array", "items": ref("Question")}}),
    "Taggings": obj({"items": {"type": "array", "items": ref("Tagging")}}),
}

PARAMS = {
    "after": {"name": "after", "in": "query", "schema": STRING, "description": "cursor"},
    "limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
    },
    "person_id": {"name": "person_id", "in": "path", "required": True, "schema": INT},
    "event_id": {"name": "event_id", "in": "path", "required": True, "schema": INT},
    "tag": {"name": "tag", "in": "path", "required": True, "schema": STRING},
}


def op(
    summary: str,
    scope: ApiScope | None,
    answers: dict[int, str | None],
    params: tuple[str | dict, ...] = (),
    body: str | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in answers.items():
        entry: dict[str, Any] = {"description": "" if schema is None else schema}
        if schema is not None:
            entry["content"] = {"application/json": {"schema": ref(schema)}}
        responses[str(status)] = entry
    for status, why in (
        (400, "a malformed request (query or body)"),
        (401, "no valid key"),
        (403, "the key lacks the scope"),
        (429, "over the key's rate"),
    ):
        responses.setdefault(
            str(status),
            {"description": why, "content": {"application/json": {"schema": ref("Error")}}},
        )
    answer: dict[str, Any] = {
        "summary": summary,
        "parameters": [PARAMS[p] if isinstance(p, str) else p for p in params],
        "responses": responses,
        "security": [{"apiKey": [scope.value]}] if scope else [],
    }
    if scope is None:
        for status in ("401", "403", "429"):
            del responses[status]
    if scope is not None:
        answer["x-scope"] = scope.value
    if body:
        answer["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return answer


def query(name: str, description: str, schema=STRING) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


S = ApiScope
PATHS: dict[str, Any] = {
    "/people": {
        "get": op(
            "People in id order",
            S.READ_PEOPLE,
            {200: "PersonPage"},
            (
                "after",
                "limit",
                query("modified_since", "only people changed at or after this time", TIME),
                query("email", "only holders of this address"),
                query("phone", "only holders of this number"),
                query("identifier", '"system:value", e.g. van:123'),
            ),
        ),
        "post": op(
            "Match (external id, phone and name, email and name) or create a person",
            S.WRITE_PEOPLE,
            {200: "PersonWritten", 201: "PersonWritten", 422: "Error"},
            body="PersonInput",
        ),
    },
    "/people/{person_id}": {
        "get": op(
            "One person (merged ids answer with the survivor)",
            S.READ_PEOPLE,
            {200: "Person", 404: "Error"},
            ("person_id",),
        ),
        "patch": op(
            "Change a person at the version you read (If-Match: its ETag)",
            S.WRITE_PEOPLE,
            {200: "Person", 404: "Error", 409: "Error", 412: "Error", 422: "Error", 428: "Error"},
            ("person_id", {"name": "If-Match", "in": "header", "required": True, "schema": STRING}),
            body="PersonInput",
        ),
    },
    "/people/{person_id}/taggings": {
        "get": op(
            "A person's tags", S.READ_PEOPLE, {200: "Taggings", 404: "Error"}, ("person_id",)
        ),
        "post": op(
            "Tag a person",
            S.WRITE_PEOPLE,
            {200: "TaggingWritten", 201: "TaggingWritten"},
            ("person_id",),
            body="Tagging",
        ),
    },
    "/people/{person_id}/taggings/{tag}": {
        "delete": op(
            "Untag a person", S.WRITE_PEOPLE, {204: None, 404: "Error"}, ("person_id", "tag")
        ),
    },
    "/tags": {"get": op("Tags", S.READ_PEOPLE, {200: "TagPage"}, ("after", "limit"))},
    "/questions": {
        "get": op(
            "Survey questions",
            S.READ_PEOPLE,
            {200: "Questions"},
            (query("campaign", "one campaign's questions", INT),),
        ),
    },
    "/canvasses": {
        "get": op(
            "Calls with their outcomes and answers, and other modules' canvasses",
            S.READ_CANVASSES,
            {200: "CanvassPage"},
            (
                "after",
                "limit",
                query("campaign", "one campaign", INT),
                query("person", "one person", INT),
                query("since", "at or after", TIME),
            ),
        ),
        "post": op(
            "Record a contact of another module with its answers",
            S.WRITE_CANVASSES,
            {201: "Canvass", 422: "Error"},
            body="CanvassInput",
        ),
    },
    "/events": {
        "get": op("Events", S.READ_EVENTS, {200: "EventPage"}, ("after", "limit")),
        "post": op(
            "Create an event", S.WRITE_EVENTS, {201: "Event", 422: "Error"}, body="EventInput"
        ),
    },
    "/events/{event_id}": {
        "get": op("One event", S.READ_EVENTS, {200: "Event", 404: "Error"}, ("event_id",)),
    },
    "/events/{event_id}/attendances": {
        "get": op(
            "An event's attendances (RSVPs)",
            S.READ_EVENTS,
            {200: "AttendancePage"},
            ("event_id", "after", "limit"),
        ),
        "post": op(
            "Record an RSVP",
            S.WRITE_EVENTS,
            {201: "Attendance", 422: "Error"},
            ("event_id",),
            body="AttendanceInput",
        ),
    },
    "/do_not_call": {
        "get": op(
            "The do-not-call list in number order",
            S.READ_DO_NOT_CALL,
            {200: "DoNotCallPage"},
            ("after", "limit"),
        ),
        "post": op(
            "Put a number on the do-not-call list",
            S.WRITE_DO_NOT_CALL,
            {201: "DoNotCall", 422: "Error"},
            body="DoNotCallInput",
        ),
    },
    "/changes": {
        "get": op(
            "The change feed after a cursor, in commit order",
            S.READ_CHANGES,
            {200: "Changes", 400: "Error"},
            (
                "after",
                "limit",
                query("types", "comma-separated event types"),
                query("wait", "seconds (up to 25) to hold the request open for news", INT),
            ),
        ),
    },
}


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "phonebank supporter store",
            "version": "1",
            "description": "People, taggings, questions, canvasses, events and attendances, "
            "the do-not-call list and a change feed, for the events and email modules and "
            "other integrations. docs/api.md has the guide.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key made by staff on the Integrations page",
                }
            },
        },
        "paths": PATHS,
    }
