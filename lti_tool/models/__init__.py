"""Models, split by domain. Importing this package registers every table with the metadata."""
from .course import Course, Enrollment, Person, PersonAlias
from .events import EntryDaily, IngestToken, KavaSession, Play, PlayerEvent, PlayerLoad
from .lti import Deployment, Registration, ToolKey
from .media import Category, CategoryEntry, EntryCoeditor, MediaEntry
from .rooms import (
    Attendance, AttachmentDownload, ChatMessage, EngagementSample, Interaction, InteractionAnswer, QaThread,
    RaisedHand, Reaction, Room, RoomSession, Rsvp,
)
from .sessions import KeyValueEntry, ToolSession

__all__ = [
    "AttachmentDownload",
    "Attendance",
    "Category",
    "CategoryEntry",
    "ChatMessage",
    "Course",
    "Deployment",
    "EngagementSample",
    "Enrollment",
    "EntryCoeditor",
    "EntryDaily",
    "IngestToken",
    "Interaction",
    "InteractionAnswer",
    "KavaSession",
    "KeyValueEntry",
    "MediaEntry",
    "Person",
    "PersonAlias",
    "Play",
    "PlayerEvent",
    "PlayerLoad",
    "QaThread",
    "RaisedHand",
    "Reaction",
    "Registration",
    "Room",
    "RoomSession",
    "Rsvp",
    "ToolKey",
    "ToolSession",
]
