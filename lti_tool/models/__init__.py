"""Models, split by domain. Importing this package registers every table with the metadata."""
from .course import Course, Enrollment, Person, PersonAlias
from .events import IngestToken, Play, PlayerEvent, PlayerLoad, PlayRollup, RollupZone
from .exports import Export
from .lti import Deployment, Registration, ToolKey
from .media import Category, CategoryEntry, EntryCoeditor, MediaEntry, find_category, find_entry
from .rooms import (
    Attendance, AttachmentDownload, BreakoutParticipant, ChatConnection, ChatMessage, EngagementSample, Interaction,
    InteractionAnswer, QaThread, RaisedHand, Reaction, Room, RoomMessage, RoomSession, Rsvp,
)
from .sessions import KeyValueEntry, ToolSession

__all__ = [
    "AttachmentDownload",
    "Attendance",
    "BreakoutParticipant",
    "Category",
    "CategoryEntry",
    "ChatConnection",
    "ChatMessage",
    "Course",
    "Deployment",
    "EngagementSample",
    "Enrollment",
    "EntryCoeditor",
    "Export",
    "IngestToken",
    "Interaction",
    "InteractionAnswer",
    "KeyValueEntry",
    "MediaEntry",
    "Person",
    "PersonAlias",
    "Play",
    "PlayerEvent",
    "PlayerLoad",
    "PlayRollup",
    "QaThread",
    "RaisedHand",
    "Reaction",
    "Registration",
    "Room",
    "RollupZone",
    "RoomMessage",
    "RoomSession",
    "Rsvp",
    "ToolKey",
    "ToolSession",
    "find_category",
    "find_entry",
]
