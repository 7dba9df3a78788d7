"""Every table model, imported so that SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from app.activities.models import Activity, ActivityCountry, ActivityRegion, IdempotencyRecord
from app.assistance.models import AssistanceRequest, RequestActivity, RequestStatusChange
from app.audit.models import AuditEntry
from app.auth.models import ApiKey, AuthLink, Membership, Person
from app.db.stamp import ChangeStamp
from app.feeds.models import FeedEvent, FeedEventText, FeedToken
from app.findings.models import Finding, TextVector
from app.mail.models import Notice, OutboxMail
from app.notices.models import DigestSent, NoticeChoice
from app.organizations.models import Organization, OrganizationProfile
from app.web.models import PendingUpload, WebSession
from app.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

metadata = SQLModel.metadata

__all__ = [
    "Activity",
    "ActivityCountry",
    "ActivityRegion",
    "ApiKey",
    "AssistanceRequest",
    "AuditEntry",
    "AuthLink",
    "ChangeStamp",
    "DigestSent",
    "FeedEvent",
    "FeedEventText",
    "FeedToken",
    "Finding",
    "IdempotencyRecord",
    "Membership",
    "Notice",
    "NoticeChoice",
    "Organization",
    "OrganizationProfile",
    "OutboxMail",
    "PendingUpload",
    "Person",
    "RequestActivity",
    "RequestStatusChange",
    "TextVector",
    "WebSession",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "metadata",
]
