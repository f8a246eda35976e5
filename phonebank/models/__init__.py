"""Typed SQLAlchemy models, one file per aggregate. Importing this package registers them all."""

from phonebank.models.base import Base, utcnow
from phonebank.models.campaign import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    CampaignTarget,
    QuestionKind,
    SurveyQuestion,
)
from phonebank.models.event import Attendance, Event, RsvpStatus
from phonebank.models.person import (
    Activity,
    Address,
    CustomField,
    DoNotCallNumber,
    Email,
    EmailStatus,
    ExternalId,
    Person,
    PersonTag,
    Phone,
    PhoneStatus,
    PhoneType,
    Tag,
)
from phonebank.models.user import (
    Invite,
    LoginFailure,
    LoginSession,
    Role,
    SocketConnection,
    User,
)

__all__ = [
    "Activity",
    "Address",
    "Attendance",
    "Base",
    "Campaign",
    "CampaignMember",
    "CampaignStatus",
    "CampaignTarget",
    "QuestionKind",
    "SurveyQuestion",
    "CustomField",
    "DoNotCallNumber",
    "Email",
    "EmailStatus",
    "Event",
    "ExternalId",
    "Invite",
    "LoginFailure",
    "LoginSession",
    "Person",
    "PersonTag",
    "Phone",
    "PhoneStatus",
    "PhoneType",
    "Role",
    "RsvpStatus",
    "SocketConnection",
    "Tag",
    "User",
    "utcnow",
]
