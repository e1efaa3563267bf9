"""Models, split by domain. Importing this package registers every table with the metadata."""
from .course import Course, Enrollment, Person, PersonAlias
from .events import EntryDaily, IngestToken, KavaSession, Play, PlayerEvent, PlayerLoad
from .lti import Deployment, Registration, ToolKey
from .media import Category, CategoryEntry, EntryCoeditor, MediaEntry
from .sessions import KeyValueEntry, ToolSession

__all__ = [
    "Category",
    "CategoryEntry",
    "Course",
    "Deployment",
    "EntryCoeditor",
    "EntryDaily",
    "Enrollment",
    "IngestToken",
    "KavaSession",
    "KeyValueEntry",
    "MediaEntry",
    "Person",
    "PersonAlias",
    "Play",
    "PlayerEvent",
    "PlayerLoad",
    "Registration",
    "ToolKey",
    "ToolSession",
]
