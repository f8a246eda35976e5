"""Twilio's request parameter names for each operation the emulator serves; the subset it uses.

``TWILIO_PARAMS`` is Twilio's own list (from its OpenAPI description, checked by a test against
``shared/reference/twilio_api_v2010_voice.json``); the emulator accepts every one of them, as Twilio
does, and records in its request log any name outside it. ``EMULATED_PARAMS`` is what changes the
emulator's behaviour; the rest are accepted and ignored. No gevent here: tests import this module.
"""

from __future__ import annotations

TWILIO_PARAMS: dict[str, frozenset[str]] = {
    "CreateCall": frozenset(
        {
            "To",
            "From",
            "Method",
            "FallbackUrl",
            "FallbackMethod",
            "StatusCallback",
            "StatusCallbackEvent",
            "StatusCallbackMethod",
            "SendDigits",
            "Timeout",
            "Record",
            "RecordingChannels",
            "RecordingStatusCallback",
            "RecordingStatusCallbackMethod",
            "SipAuthUsername",
            "SipAuthPassword",
            "MachineDetection",
            "MachineDetectionTimeout",
            "RecordingStatusCallbackEvent",
            "Trim",
            "CallerId",
            "MachineDetectionSpeechThreshold",
            "MachineDetectionSpeechEndThreshold",
            "MachineDetectionSilenceTimeout",
            "AsyncAmd",
            "AsyncAmdStatusCallback",
            "AsyncAmdStatusCallbackMethod",
            "Byoc",
            "CallReason",
            "CallToken",
            "RecordingTrack",
            "TimeLimit",
            "ClientNotificationUrl",
            "Url",
            "Twiml",
            "ApplicationSid",
        }
    ),
    "ListCall": frozenset(
        {
            "To",
            "From",
            "ParentCallSid",
            "Status",
            "StartTime",
            "StartTime<",
            "StartTime>",
            "EndTime",
            "EndTime<",
            "EndTime>",
            "PageSize",
            "Page",
            "PageToken",
        }
    ),
    "UpdateCall": frozenset(
        {
            "Url",
            "Method",
            "Status",
            "FallbackUrl",
            "FallbackMethod",
            "StatusCallback",
            "StatusCallbackMethod",
            "Twiml",
            "TimeLimit",
        }
    ),
    "ListConference": frozenset(
        {
            "DateCreated",
            "DateCreated<",
            "DateCreated>",
            "DateUpdated",
            "DateUpdated<",
            "DateUpdated>",
            "FriendlyName",
            "Status",
            "PageSize",
            "Page",
            "PageToken",
        }
    ),
    "UpdateConference": frozenset({"Status", "AnnounceUrl", "AnnounceMethod"}),
    "CreateParticipant": frozenset(
        {
            "From",
            "To",
            "StatusCallback",
            "StatusCallbackMethod",
            "StatusCallbackEvent",
            "Label",
            "Timeout",
            "Record",
            "Muted",
            "Beep",
            "StartConferenceOnEnter",
            "EndConferenceOnExit",
            "WaitUrl",
            "WaitMethod",
            "EarlyMedia",
            "MaxParticipants",
            "ConferenceRecord",
            "ConferenceTrim",
            "ConferenceStatusCallback",
            "ConferenceStatusCallbackMethod",
            "ConferenceStatusCallbackEvent",
            "RecordingChannels",
            "RecordingStatusCallback",
            "RecordingStatusCallbackMethod",
            "SipAuthUsername",
            "SipAuthPassword",
            "Region",
            "ConferenceRecordingStatusCallback",
            "ConferenceRecordingStatusCallbackMethod",
            "RecordingStatusCallbackEvent",
            "ConferenceRecordingStatusCallbackEvent",
            "Coaching",
            "CallSidToCoach",
            "JitterBufferSize",
            "Byoc",
            "CallerId",
            "CallReason",
            "RecordingTrack",
            "TimeLimit",
            "MachineDetection",
            "MachineDetectionTimeout",
            "MachineDetectionSpeechThreshold",
            "MachineDetectionSpeechEndThreshold",
            "MachineDetectionSilenceTimeout",
            "AmdStatusCallback",
            "AmdStatusCallbackMethod",
            "Trim",
            "CallToken",
            "ClientNotificationUrl",
            "CallerDisplayName",
        }
    ),
    "UpdateParticipant": frozenset(
        {
            "Muted",
            "Hold",
            "HoldUrl",
            "HoldMethod",
            "AnnounceUrl",
            "AnnounceMethod",
            "WaitUrl",
            "WaitMethod",
            "BeepOnExit",
            "EndConferenceOnExit",
            "Coaching",
            "CallSidToCoach",
        }
    ),
    "ListParticipant": frozenset({"Muted", "Hold", "Coaching", "PageSize", "Page", "PageToken"}),
    # Operations without a body or query: accepted names are none.
    "FetchCall": frozenset(),
    "DeleteCall": frozenset(),
    "FetchConference": frozenset(),
    "FetchParticipant": frozenset(),
    "DeleteParticipant": frozenset(),
}

EMULATED_PARAMS: dict[str, frozenset[str]] = {
    "CreateCall": frozenset(
        {
            "To",
            "From",
            "Url",
            "Twiml",
            "ApplicationSid",
            "Method",
            "FallbackUrl",
            "FallbackMethod",
            "StatusCallback",
            "StatusCallbackEvent",
            "StatusCallbackMethod",
            "Timeout",
            "MachineDetection",
            "MachineDetectionTimeout",
            "AsyncAmd",
            "AsyncAmdStatusCallback",
            "AsyncAmdStatusCallbackMethod",
            "TimeLimit",
        }
    ),
    "ListCall": frozenset(
        {"To", "From", "ParentCallSid", "Status", "StartTime>", "PageSize", "Page", "PageToken"}
    ),
    "UpdateCall": frozenset(
        {
            "Url",
            "Method",
            "Status",
            "FallbackUrl",
            "FallbackMethod",
            "StatusCallback",
            "StatusCallbackMethod",
            "Twiml",
            "TimeLimit",
        }
    ),
    "ListConference": frozenset({"FriendlyName", "Status", "PageSize", "Page", "PageToken"}),
    "UpdateConference": frozenset({"Status"}),
    "CreateParticipant": frozenset(
        {
            "From",
            "To",
            "StatusCallback",
            "StatusCallbackMethod",
            "StatusCallbackEvent",
            "Label",
            "Timeout",
            "Muted",
            "Beep",
            "StartConferenceOnEnter",
            "EndConferenceOnExit",
            "ConferenceStatusCallback",
            "ConferenceStatusCallbackMethod",
            "ConferenceStatusCallbackEvent",
            "Coaching",
            "CallSidToCoach",
            "TimeLimit",
            "MachineDetection",
            "MachineDetectionTimeout",
            "AmdStatusCallback",
            "AmdStatusCallbackMethod",
        }
    ),
    "UpdateParticipant": frozenset(
        {"Muted", "Hold", "BeepOnExit", "EndConferenceOnExit", "Coaching", "CallSidToCoach"}
    ),
    "ListParticipant": frozenset({"Muted", "Hold", "Coaching", "PageSize", "Page", "PageToken"}),
    "FetchCall": frozenset(),
    "DeleteCall": frozenset(),
    "FetchConference": frozenset(),
    "FetchParticipant": frozenset(),
    "DeleteParticipant": frozenset(),
}

CALL_STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
CONFERENCE_STATUS_CALLBACK_EVENTS = (
    "start",
    "end",
    "join",
    "leave",
    "mute",
    "hold",
    "modify",
    "speaker",
    "announcement",
)
MACHINE_DETECTION_VALUES = ("Enable", "DetectMessageEnd")
HTTP_METHODS = ("GET", "POST")
