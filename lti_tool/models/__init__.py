"""Models, split by domain. Importing this package registers every table with the metadata."""
from .course import Course, Enrollment, Person, PersonAlias
from .events import CutStream, IngestToken, Play, PlayerEvent, PlayerEventKey, PlayerLoad, PlayRollup, RawRetention, RollupZone
from .exports import Export
from .lti import Deployment, Registration, ToolKey
from .media import Category, CategoryEntry, EntryCoeditor, MediaEntry, find_category, find_entry
from .rooms import (
    Attendance, AttachmentDownload, BreakoutParticipant, ChatConnection, ChatMessage, EngagementSample, Interaction,
    InteractionAnswer, QaThread, RaisedHand, Reaction, Room, RoomMessage, RoomMinute, RoomPerson, RoomSession, Rsvp,
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
    "CutStream",
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
    "PlayerEventKey",
    "PlayerLoad",
    "PlayRollup",
    "QaThread",
    "RaisedHand",
    "RawRetention",
    "Reaction",
    "Registration",
    "Room",
    "RollupZone",
    "RoomMessage",
    "RoomMinute",
    "RoomPerson",
    "RoomSession",
    "Rsvp",
    "ToolKey",
    "ToolSession",
    "find_category",
    "find_entry",
]
