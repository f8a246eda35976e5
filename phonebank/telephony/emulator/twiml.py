"""TwiML: parsing a ``<Response>`` document into verbs, and how long each one takes to play.

Supported: ``<Say>``, ``<Play>``, ``<Pause>``, ``<Hangup/>``, ``<Reject/>``, ``<Redirect>``,
``<Gather>`` (its nested Say/Play/Pause play, then it times out with no input) and ``<Dial>`` with
one ``<Conference>``. Anything else parses as ``Unsupported`` and is skipped (with a log entry).
No gevent here: tests import this module.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SPEECH_WORDS_PER_SECOND = 2.5
PLAY_SECONDS = 5.0  # audio files are not downloaded: each <Play> is taken to last this long
MAX_LOOPS = 10  # loop="0" (forever) is played this many times


class TwimlError(Exception):
    """The document is not TwiML the emulator can run (Twilio: 12100 Document parse failure)."""

    code = 12100


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def _number(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def _loops(element: ET.Element) -> int:
    loop = int(_number(element.get("loop"), 1))
    return MAX_LOOPS if loop <= 0 else min(loop, 100)


@dataclass
class Say:
    text: str
    loop: int = 1

    @property
    def seconds(self) -> float:
        words = len(self.text.split())
        return self.loop * max(1.0, words / SPEECH_WORDS_PER_SECOND + 0.5)


@dataclass
class Play:
    url: str
    loop: int = 1
    digits: str | None = None

    @property
    def seconds(self) -> float:
        if self.digits:
            return 0.5 * len(self.digits)
        return self.loop * PLAY_SECONDS


@dataclass
class Pause:
    length: float = 1.0

    @property
    def seconds(self) -> float:
        return self.length


@dataclass
class Hangup:
    pass


@dataclass
class Reject:
    reason: str = "rejected"


@dataclass
class Redirect:
    url: str
    method: str = "POST"


@dataclass
class Gather:
    children: list = field(default_factory=list)
    timeout: float = 5.0
    action: str | None = None
    method: str = "POST"
    action_on_empty_result: bool = False


@dataclass
class ConferenceOptions:
    """Attributes of ``<Conference>`` (and the Participants API equivalents)."""

    name: str
    muted: bool = False
    beep: str = "true"
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    coach: str | None = None  # the call SID this participant coaches
    participant_label: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    wait_url: str | None = None
    max_participants: int = 250


@dataclass
class DialConference:
    conference: ConferenceOptions
    action: str | None = None
    method: str = "POST"
    time_limit: float = 14400.0


@dataclass
class Unsupported:
    tag: str


Verb = Say | Play | Pause | Hangup | Reject | Redirect | Gather | DialConference | Unsupported


def parse(document: str | bytes) -> list[Verb]:
    """The verbs of a TwiML ``<Response>``; raises ``TwimlError`` on anything else."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as error:
        raise TwimlError(f"not well-formed XML: {error}") from None
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, not <Response>")
    return [_verb(element) for element in root]


def _verb(element: ET.Element) -> Verb:
    tag, text = element.tag, (element.text or "").strip()
    if tag == "Say":
        return Say(text=text, loop=_loops(element))
    if tag == "Play":
        return Play(url=text, loop=_loops(element), digits=element.get("digits"))
    if tag == "Pause":
        return Pause(length=max(0.0, _number(element.get("length"), 1.0)))
    if tag == "Hangup":
        return Hangup()
    if tag == "Reject":
        return Reject(reason=element.get("reason", "rejected"))
    if tag == "Redirect":
        if not text:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url=text, method=element.get("method", "POST").upper())
    if tag == "Gather":
        children = [_verb(child) for child in element if child.tag in ("Say", "Play", "Pause")]
        return Gather(
            children=children,
            timeout=_number(element.get("timeout"), 5.0),
            action=element.get("action"),
            method=element.get("method", "POST").upper(),
            action_on_empty_result=_bool(element.get("actionOnEmptyResult"), False),
        )
    if tag == "Dial":
        return _dial(element, text)
    return Unsupported(tag=tag)


def _dial(element: ET.Element, text: str) -> Verb:
    nouns = list(element)
    conferences = [noun for noun in nouns if noun.tag == "Conference"]
    if len(conferences) != 1 or len(nouns) != 1:
        return Unsupported(tag="Dial" + "".join(f"/{n.tag}" for n in nouns) if nouns else "Dial")
    noun = conferences[0]
    name = (noun.text or "").strip()
    if not name:
        raise TwimlError("<Conference> needs a name")
    events = frozenset((noun.get("statusCallbackEvent") or "").replace(",", " ").split())
    options = ConferenceOptions(
        name=name,
        muted=_bool(noun.get("muted"), False),
        beep=noun.get("beep", "true"),
        start_conference_on_enter=_bool(noun.get("startConferenceOnEnter"), True),
        end_conference_on_exit=_bool(noun.get("endConferenceOnExit"), False),
        coach=noun.get("coach") or None,
        participant_label=noun.get("participantLabel") or None,
        status_callback=noun.get("statusCallback") or None,
        status_callback_method=noun.get("statusCallbackMethod", "POST").upper(),
        status_callback_events=events,
        wait_url=noun.get("waitUrl"),
        max_participants=int(_number(noun.get("maxParticipants"), 250)),
    )
    return DialConference(
        conference=options,
        action=element.get("action"),
        method=element.get("method", "POST").upper(),
        time_limit=_number(element.get("timeLimit"), 14400.0),
    )
