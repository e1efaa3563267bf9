"""Models, split by domain. Importing this package registers every table with the metadata."""
from .course import Course, Enrollment, Person, PersonAlias
from .lti import Deployment, Registration, ToolKey
from .sessions import KeyValueEntry, ToolSession

__all__ = [
    "Course",
    "Deployment",
    "Enrollment",
    "KeyValueEntry",
    "Person",
    "PersonAlias",
    "Registration",
    "ToolKey",
    "ToolSession",
]
