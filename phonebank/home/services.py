"""What each role's home page shows."""

from __future__ import annotations

from sqlalchemy import func, select

from phonebank.extensions import db
from phonebank.models import (
    Campaign,
    CampaignMember,
    CampaignStatus,
    DoNotCallNumber,
    Invite,
    Person,
    Phone,
    PhoneStatus,
    Role,
    SocketConnection,
    User,
    utcnow,
)


def campaigns_for(user: User) -> list[Campaign]:
    """Staff see every campaign; others the campaigns they are assigned to."""
    query = select(Campaign).order_by(Campaign.status, Campaign.name)
    if not user.has_role(Role.STAFF):
        query = query.join(CampaignMember).where(CampaignMember.user_id == user.id)
    return list(db.session.scalars(query))


def team_for_lead(user: User) -> list[dict]:
    """Volunteers sharing a campaign with this lead, with whether they are online now."""
    campaign_ids = select(CampaignMember.campaign_id).where(CampaignMember.user_id == user.id)
    online = select(SocketConnection.user_id).distinct()
    rows = db.session.execute(
        select(User, Campaign.name, User.id.in_(online))
        .join(CampaignMember, CampaignMember.user_id == User.id)
        .join(Campaign, Campaign.id == CampaignMember.campaign_id)
        .where(CampaignMember.campaign_id.in_(campaign_ids), User.role == Role.VOLUNTEER)
        .order_by(Campaign.name, User.name)
    ).all()
    return [{"user": u, "campaign": name, "online": bool(is_online)} for u, name, is_online in rows]


def staff_figures() -> dict:
    count = db.session.scalar
    now = utcnow()
    users_by_role = dict(
        db.session.execute(select(User.role, func.count()).group_by(User.role)).all()
    )
    return {
        "people": count(
            select(func.count()).select_from(Person).where(Person.merged_into_id.is_(None))
        ),
        "phones_ok": count(select(func.count()).where(Phone.status == PhoneStatus.OK)),
        "phones_bad": count(select(func.count()).where(Phone.status == PhoneStatus.BAD)),
        "do_not_call_people": count(select(func.count()).where(Person.do_not_call.is_(True))),
        "do_not_call_numbers": count(select(func.count()).select_from(DoNotCallNumber)),
        "users_by_role": {role: users_by_role.get(role, 0) for role in Role},
        "online_users": count(select(func.count(SocketConnection.user_id.distinct()))),
        "open_invites": count(
            select(func.count()).where(
                Invite.revoked_at.is_(None),
                (Invite.expires_at.is_(None)) | (Invite.expires_at > now),
                (Invite.max_uses.is_(None)) | (Invite.uses < Invite.max_uses),
            )
        ),
        "active_campaigns": count(
            select(func.count()).where(Campaign.status == CampaignStatus.ACTIVE)
        ),
    }


def recent_sign_ups(limit: int = 10) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.invite_id.is_not(None))
            .order_by(User.created_at.desc())
            .limit(limit)
        )
    )
