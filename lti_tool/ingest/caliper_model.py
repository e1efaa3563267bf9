"""The IMS Caliper 1.1 / 1.2 information model as data, and `check_item`, which refuses what it does not allow.

A Caliper envelope is refused whole when any of its items breaks the model, whatever profile the
item belongs to: an event or a describe we go on to ignore is still checked, so a sender learns of
its mistake at once instead of having its batch half-read. The tables follow the Caliper 1.2
specification's entity and event definitions (1EdTech caliper-spec, `fragments/`, and the 1.2
JSON-LD context); actions and objects that Caliper 1.1 allowed and 1.2 deprecated are still
accepted, so 1.1 senders keep working.

What is checked, as the specification defines it:
- ids: an event's id is a `urn:uuid:` UUID (checked where it is read); an entity's id, and any
  entity referenced by string, is an absolute IRI (RFC 3987, `iri.is_iri`);
- types: every `type` is a Caliper term (an item whose `@context` adds its own vocabulary may use
  other types, read as plain entities); an entity in a property is of the type the property
  allows (or a subtype);
- values: strings, integers, decimals (a number written with a fractional part), booleans,
  ISO 8601 date-times (with their UTC offset) and durations, lists, maps and enumerations (roles,
  statuses, metrics, identifier types, LTI message types, profiles, each event type's actions);
- requirements: the properties the model requires (an event's id, type, actor, action, object and
  eventTime; an entity's id and type; a Launched tool launch's federatedSession; ...).
Properties the model does not define are left alone: Caliper lets JSON-LD contexts add terms.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .iri import is_iri
from .schema import InvalidEvent, parse_time

VOCABULARY = "http://purl.imsglobal.org/caliper/"
CONTEXTS = frozenset({
    "http://purl.imsglobal.org/ctx/caliper/v1p1",
    "http://purl.imsglobal.org/ctx/caliper/v1p2",
    # Caliper 1.1 profile extensions, folded into 1.2.
    *(f"http://purl.imsglobal.org/ctx/caliper/v1p1/{profile}Profile-extension"
      for profile in ("Feedback", "ResourceManagement", "Search", "Survey", "ToolLaunch", "ToolUse")),
})
MAX_DEPTH = 32  # entities nested deeper than this are refused (no real sender nests so deep)

STRING, INTEGER, DECIMAL, BOOLEAN, DATETIME, DURATION, IRI, MAP = (
    "a string", "an integer", "a decimal number", "true or false", "an ISO 8601 date and time",
    "an ISO 8601 duration", "an IRI", "a JSON object")


@dataclass(frozen=True)
class Ref:
    """An entity of one of `types` (or of a subtype), as an object or as its IRI."""
    types: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: object


@dataclass(frozen=True)
class Term:
    """One of a fixed set of Caliper terms; `name` says which set, for messages."""
    values: frozenset
    name: str


def ref(*types: str) -> Ref:
    return Ref(types)


ROLE_CONTEXTS = ("Administrator", "ContentDeveloper", "Instructor", "Learner", "Manager", "Member", "Mentor",
                 "Officer")
ROLES = Term(frozenset(ROLE_CONTEXTS) | frozenset(
    f"{context}#{role}" for context, roles in {
        "Administrator": ("Administrator", "Developer", "ExternalDeveloper", "ExternalSupport",
                          "ExternalSystemAdministrator", "Support", "SystemAdministrator"),
        "ContentDeveloper": ("ContentDeveloper", "ContentExpert", "ExternalContentExpert", "Librarian"),
        "Instructor": ("ExternalInstructor", "Grader", "GuestInstructor", "Instructor", "Lecturer",
                       "PrimaryInstructor", "SecondaryInstructor", "TeachingAssistant", "TeachingAssistantGroup",
                       "TeachingAssistantOffering", "TeachingAssistantSection", "TeachingAssistantTemplate"),
        "Learner": ("ExternalLearner", "GuestLearner", "Learner", "NonCreditLearner"),
        "Manager": ("AreaManager", "CourseCoordinator", "Manager", "Observer", "ExternalObserver"),
        "Member": ("Member",),
        "Mentor": ("Advisor", "Auditor", "ExternalAdvisor", "ExternalAuditor", "ExternalLearningFacilitator",
                   "ExternalMentor", "ExternalReviewer", "ExternalTutor", "LearningFacilitator", "Mentor",
                   "Reviewer", "Tutor"),
        "Officer": ("Chair", "Secretary", "Treasurer", "Vice-Chair"),
    }.items() for role in roles), "a Caliper role")
STATUSES = Term(frozenset({"Active", "Inactive"}), "a Caliper membership status")
METRICS = Term(frozenset({"AssessmentsPassed", "AssessmentsSubmitted", "MinutesOnTask", "SkillsMastered",
                          "StandardsMastered", "UnitsCompleted", "UnitsPassed", "WordsRead"}), "a Caliper metric")
IDENTIFIER_TYPES = Term(frozenset({
    "AccountUserName", "CaseItemUri", "EmailAddress", "LisSourcedId", "LtiContextId", "LtiDeploymentId",
    "LtiPlatformId", "LtiToolId", "LtiUserId", "OneRosterSourcedId", "Other", "SisSourcedId", "SystemId"}),
    "a Caliper system identifier type")
LTI_MESSAGE_TYPES = Term(frozenset({"LtiResourceLinkRequest", "LtiDeepLinkingRequest", "LtiDeepLinkingResponse"}),
                         "an LTI message type")
PROFILES = Term(frozenset({
    "GeneralProfile", "AnnotationProfile", "AssessmentProfile", "AssignableProfile", "FeedbackProfile",
    "ForumProfile", "GradingProfile", "MediaProfile", "ReadingProfile", "ResourceManagementProfile",
    "SearchProfile", "SessionProfile", "SurveyProfile", "ToolLaunchProfile", "ToolUseProfile"}),
    "a Caliper profile")
STRINGS = ListOf(STRING)

# type -> (supertypes, properties the type adds or narrows). SystemIdentifier and the selectors
# are not entities: they have no id.
ENTITIES: dict[str, tuple[tuple[str, ...], dict]] = {
    "Entity": ((), {
        "id": IRI, "name": STRING, "description": STRING, "dateCreated": DATETIME, "dateModified": DATETIME,
        "otherIdentifiers": ListOf(ref("SystemIdentifier")), "extensions": MAP}),
    "SystemIdentifier": ((), {"identifierType": IDENTIFIER_TYPES, "identifier": STRING,
                              "source": ref("SoftwareApplication"), "extensions": MAP}),
    "Selector": ((), {}),
    "TextPositionSelector": (("Selector",), {"start": INTEGER, "end": INTEGER}),

    "Agent": (("Entity",), {}),
    "Person": (("Agent",), {}),
    "Organization": (("Agent",), {"subOrganizationOf": ref("Organization"), "members": ListOf(ref("Agent"))}),
    "CourseOffering": (("Organization",), {"courseNumber": STRING, "academicSession": STRING}),
    "CourseSection": (("CourseOffering",), {"category": STRING}),
    "Group": (("Organization",), {}),
    "SoftwareApplication": (("Agent",), {"host": STRING, "ipAddress": STRING, "userAgent": STRING,
                                         "version": STRING}),

    "AggregateMeasure": (("Entity",), {"metricValue": DECIMAL, "maxMetricValue": DECIMAL, "metric": METRICS,
                                       "startedAtTime": DATETIME, "endedAtTime": DATETIME}),
    "Collection": (("Entity",), {"items": ListOf(ref("Entity"))}),
    "AggregateMeasureCollection": (("Collection",), {"items": ListOf(ref("AggregateMeasure"))}),
    "Survey": (("Collection",), {"items": ListOf(ref("Questionnaire"))}),
    "Annotation": (("Entity",), {"annotator": ref("Person"), "annotated": ref("DigitalResource")}),
    "BookmarkAnnotation": (("Annotation",), {"bookmarkNotes": STRING}),
    "HighlightAnnotation": (("Annotation",), {"selection": ref("TextPositionSelector"), "selectionText": STRING}),
    "SharedAnnotation": (("Annotation",), {"withAgents": ListOf(ref("Agent"))}),
    "TagAnnotation": (("Annotation",), {"tags": STRINGS}),
    "Attempt": (("Entity",), {"assignee": ref("Person"), "assignable": ref("DigitalResource"),
                              "isPartOf": ref("Attempt"), "count": INTEGER, "startedAtTime": DATETIME,
                              "endedAtTime": DATETIME, "duration": DURATION}),
    "Comment": (("Entity",), {"commenter": ref("Person"), "commentedOn": ref("Entity"), "value": STRING}),
    "LearningObjective": (("Entity",), {}),
    "Link": (("Entity",), {}),
    "Membership": (("Entity",), {"organization": ref("Organization"), "member": ref("Person"),
                                 "roles": ListOf(ROLES), "status": STATUSES}),
    "Query": (("Entity",), {"creator": ref("Person"), "searchTarget": ref("Entity"), "searchTerms": STRING}),
    "Rating": (("Entity",), {"rater": ref("Person"), "rated": ref("Entity"), "question": ref("Question"),
                             "selections": STRINGS, "ratingComment": ref("Comment")}),
    "Response": (("Entity",), {"attempt": ref("Attempt"), "startedAtTime": DATETIME, "endedAtTime": DATETIME,
                               "duration": DURATION}),
    "DateTimeResponse": (("Response",), {"dateTimeSelected": DATETIME}),
    "FillinBlankResponse": (("Response",), {"values": STRINGS}),
    "MultipleChoiceResponse": (("Response",), {"value": STRING}),
    "MultipleResponseResponse": (("Response",), {"values": STRINGS}),
    "MultiselectResponse": (("Response",), {"selections": STRINGS}),
    "OpenEndedResponse": (("Response",), {"value": STRING}),
    "RatingScaleResponse": (("Response",), {"selections": STRINGS}),
    "SelectTextResponse": (("Response",), {"values": STRINGS}),
    "TrueFalseResponse": (("Response",), {"value": STRING}),
    "Result": (("Entity",), {"attempt": ref("Attempt"), "maxResultScore": DECIMAL, "resultScore": DECIMAL,
                             "scoredBy": ref("Agent"), "comment": STRING}),
    "Scale": (("Entity",), {}),
    "LikertScale": (("Scale",), {"scalePoints": INTEGER, "itemLabels": STRINGS, "itemValues": STRINGS}),
    "MultiselectScale": (("Scale",), {"scalePoints": INTEGER, "itemLabels": STRINGS, "itemValues": STRINGS,
                                      "isOrderedSelection": BOOLEAN, "minSelections": INTEGER,
                                      "maxSelections": INTEGER}),
    "NumericScale": (("Scale",), {"minValue": DECIMAL, "minLabel": STRING, "maxValue": DECIMAL,
                                  "maxLabel": STRING, "step": DECIMAL}),
    "Score": (("Entity",), {"attempt": ref("Attempt"), "maxScore": DECIMAL, "scoreGiven": DECIMAL,
                            "scoredBy": ref("Agent"), "comment": STRING}),
    "SearchResponse": (("Entity",), {"searchProvider": ref("SoftwareApplication"), "searchTarget": ref("Entity"),
                                     "query": ref("Query"), "searchResultsItemCount": INTEGER,
                                     "searchResults": ListOf(ref("Entity"))}),
    "Session": (("Entity",), {"user": ref("Person"), "client": ref("SoftwareApplication"),
                              "startedAtTime": DATETIME, "endedAtTime": DATETIME, "duration": DURATION}),
    "LtiSession": (("Session",), {"messageParameters": MAP}),

    "DigitalResource": (("Entity",), {
        "storageName": STRING, "creators": ListOf(ref("Agent")), "mediaType": STRING, "keywords": STRINGS,
        "learningObjectives": ListOf(ref("LearningObjective")), "isPartOf": ref("Entity"),
        "datePublished": DATETIME, "version": STRING}),
    "AssignableDigitalResource": (("DigitalResource",), {
        "dateToActivate": DATETIME, "dateToShow": DATETIME, "dateToStartOn": DATETIME, "dateToSubmit": DATETIME,
        "maxAttempts": INTEGER, "maxSubmits": INTEGER, "maxScore": DECIMAL}),
    "DigitalResourceCollection": (("Collection", "DigitalResource"), {"items": ListOf(ref("DigitalResource"))}),
    "Assessment": (("AssignableDigitalResource", "DigitalResourceCollection"),
                   {"items": ListOf(ref("AssessmentItem"))}),
    "AssessmentItem": (("AssignableDigitalResource",), {"isTimeDependent": BOOLEAN}),
    "Forum": (("DigitalResourceCollection",), {"items": ListOf(ref("Thread"))}),
    "Thread": (("DigitalResourceCollection",), {"items": ListOf(ref("Message"))}),
    "Questionnaire": (("DigitalResourceCollection",), {"items": ListOf(ref("QuestionnaireItem"))}),
    "Chapter": (("DigitalResource",), {}),
    "Document": (("DigitalResource",), {}),
    "Page": (("DigitalResource",), {}),
    "WebPage": (("DigitalResource",), {}),
    "Frame": (("DigitalResource",), {"index": INTEGER}),
    "LtiLink": (("DigitalResource",), {"messageType": LTI_MESSAGE_TYPES}),
    "MediaLocation": (("DigitalResource",), {"currentTime": DURATION}),
    "MediaObject": (("DigitalResource",), {"duration": DURATION}),
    "AudioObject": (("MediaObject",), {"volumeLevel": STRING, "volumeMin": STRING, "volumeMax": STRING,
                                       "muted": BOOLEAN}),
    "ImageObject": (("MediaObject",), {}),
    "VideoObject": (("MediaObject",), {}),
    "Message": (("DigitalResource",), {"replyTo": ref("Message"), "body": STRING,
                                       "attachments": ListOf(ref("DigitalResource"))}),
    "Question": (("DigitalResource",), {"questionPosed": STRING}),
    "DateTimeQuestion": (("Question",), {"minDateTime": DATETIME, "minLabel": STRING, "maxDateTime": DATETIME,
                                         "maxLabel": STRING}),
    "MultiselectQuestion": (("Question",), {"points": INTEGER, "itemLabels": STRINGS, "itemValues": STRINGS}),
    "OpenEndedQuestion": (("Question",), {}),
    "RatingScaleQuestion": (("Question",), {"scale": ref("Scale")}),
    "QuestionnaireItem": (("DigitalResource",), {"question": ref("Question"), "categories": STRINGS,
                                                 "weight": DECIMAL}),
    "SurveyInvitation": (("DigitalResource",), {"rater": ref("Person"), "survey": ref("Survey"),
                                                "sentCount": INTEGER, "dateSent": DATETIME}),
}
DESCRIBABLE = ("Entity", "SystemIdentifier", "Selector")  # what an envelope's data may describe
REQUIRED = {"Entity": ("id",), "SystemIdentifier": ("identifierType", "identifier"),
            "TextPositionSelector": ("start", "end"), "AggregateMeasure": ("metric", "metricValue"),
            "Questionnaire": ("items",)}

MEDIA_EVENT_ACTIONS = frozenset({
    "Started", "Ended", "Paused", "Resumed", "Restarted", "ForwardedTo", "JumpedTo", "ChangedResolution",
    "ChangedSize", "ChangedSpeed", "ChangedVolume", "EnabledClosedCaptioning", "DisabledClosedCaptioning",
    "EnteredFullScreen", "ExitedFullScreen", "Muted", "Unmuted", "OpenedPopout", "ClosedPopout",
    "EnabledCloseCaptioning", "DisabledCloseCaptioning",  # as the 1.1 and 1.2 JSON-LD contexts spell them
    "Rewound",  # Caliper 1.1, deprecated
})
READ_ACTIONS = frozenset({"MarkedAsRead", "MarkedAsUnRead", "MarkedAsUnread"})  # the contexts spell it "Unread"
# Every action term of the Caliper 1.2 vocabulary (a GeneralProfile Event may use any of them).
ACTIONS = frozenset({
    "Abandoned", "Accepted", "Activated", "Added", "Archived", "Attached", "Bookmarked", "Classified", "Commented",
    "Completed", "Copied", "Created", "Deactivated", "Declined", "Deleted", "Described", "Disliked", "Downloaded",
    "Graded", "Hid", "Highlighted", "Identified", "Launched", "Liked", "Linked", "LoggedIn", "LoggedOut",
    "Modified", "NavigatedTo", "OptedIn", "OptedOut", "Posted", "Printed", "Published", "Questioned", "Ranked",
    "Recommended", "Removed", "Reset", "Restored", "Retrieved", "Returned", "Reviewed", "Saved", "Searched",
    "Sent", "Shared", "Showed", "Skipped", "Submitted", "Subscribed", "Tagged", "TimedOut", "Unpublished",
    "Unsubscribed", "Uploaded", "Used", "Viewed"}) | MEDIA_EVENT_ACTIONS | READ_ACTIONS

EVENT_PROPERTIES = {
    "profile": PROFILES, "actor": ref("Agent"), "object": ref("Entity"), "eventTime": DATETIME,
    "edApp": ref("SoftwareApplication"), "generated": ref("Entity"), "target": ref("Entity"),
    "referrer": ref("Entity"), "group": ref("Organization"), "membership": ref("Membership"),
    "session": ref("Session"), "federatedSession": ref("LtiSession"), "extensions": MAP,
}
EVENT_REQUIRED = ("id", "type", "actor", "action", "object", "eventTime")


@dataclass(frozen=True)
class EventType:
    actions: frozenset
    properties: dict      # what the event type narrows of EVENT_PROPERTIES
    required_when: tuple = ()  # (action, property) pairs: the property is required with that action


def _event(actions, *, actor=("Person",), required_when=(), **narrowed) -> EventType:
    return EventType(frozenset(actions), {"actor": Ref(actor), **{k: Ref(v) for k, v in narrowed.items()}},
                     required_when)


EVENTS: dict[str, EventType] = {
    "Event": EventType(ACTIONS, {}),
    "AnnotationEvent": _event(
        {"Bookmarked", "Highlighted", "Shared", "Tagged",
         # Caliper 1.1, deprecated
         "Attached", "Classified", "Commented", "Described", "Disliked", "Identified", "Liked", "Linked",
         "Questioned", "Ranked", "Recommended", "Subscribed"},
        object=("DigitalResource",), target=("Frame",), generated=("Annotation",)),
    "AssessmentEvent": _event({"Started", "Paused", "Resumed", "Restarted", "Reset", "Submitted"},
                              object=("Assessment",), generated=("Attempt",)),
    "AssessmentItemEvent": _event({"Started", "Skipped", "Completed", "Reviewed", "Viewed"},
                                  object=("AssessmentItem",), generated=("Response", "Attempt"),
                                  referrer=("AssessmentItem",)),
    "AssignableEvent": _event({"Activated", "Deactivated", "Started", "Completed", "Submitted", "Reviewed",
                               "Abandoned", "Hid", "Showed"},
                              object=("AssignableDigitalResource",), target=("Frame",), generated=("Attempt",)),
    "FeedbackEvent": _event({"Commented", "Ranked"}, object=("Entity",), target=("Frame",),
                            generated=("Rating", "Comment")),
    "ForumEvent": _event({"Subscribed", "Unsubscribed"}, object=("Forum",)),
    "GradeEvent": _event({"Graded"}, actor=("Agent",), object=("Attempt",), generated=("Score",)),
    "MediaEvent": _event(MEDIA_EVENT_ACTIONS, object=("MediaObject",), target=("MediaLocation",)),
    "MessageEvent": _event(READ_ACTIONS | {"Posted"}, object=("Message",)),
    "NavigationEvent": _event({"NavigatedTo"}, object=("DigitalResource", "SoftwareApplication"),
                              target=("DigitalResource",), referrer=("DigitalResource", "SoftwareApplication")),
    "QuestionnaireEvent": _event({"Started", "Submitted"}, object=("Questionnaire",), generated=("Attempt",)),
    "QuestionnaireItemEvent": _event({"Started", "Skipped", "Completed"}, object=("QuestionnaireItem",),
                                     generated=("Response", "Attempt")),
    "ResourceManagementEvent": _event(
        {"Archived", "Copied", "Created", "Deleted", "Described", "Downloaded", "Modified", "Printed", "Published",
         "Restored", "Retrieved", "Saved", "Unpublished", "Uploaded"},
        object=("DigitalResource",), generated=("DigitalResource",), required_when=(("Copied", "generated"),)),
    "SearchEvent": _event({"Searched"}, object=("Entity",), generated=("SearchResponse",)),
    "SessionEvent": _event({"LoggedIn", "LoggedOut", "TimedOut"}, actor=("Person", "SoftwareApplication"),
                           object=("Session", "SoftwareApplication"), target=("DigitalResource",),
                           referrer=("DigitalResource", "SoftwareApplication")),
    "SurveyEvent": _event({"OptedIn", "OptedOut"}, object=("Survey",)),
    "SurveyInvitationEvent": _event({"Accepted", "Declined", "Sent"}, object=("SurveyInvitation",)),
    "ThreadEvent": _event(READ_ACTIONS, object=("Thread",)),
    "ToolLaunchEvent": _event({"Launched", "Returned"}, object=("SoftwareApplication",),
                              generated=("DigitalResource",), target=("Link", "LtiLink"),
                              required_when=(("Launched", "federatedSession"),)),
    "ToolUseEvent": _event({"Used"}, object=("SoftwareApplication",), target=("SoftwareApplication",),
                           generated=("AggregateMeasureCollection",)),
    "ViewEvent": _event({"Viewed"}, object=("DigitalResource", "Result")),
}


def _ancestors(kind: str) -> tuple[str, ...]:
    """The type, then its supertypes nearest first (a type may have two supertypes)."""
    order, pending = [], [kind]
    while pending:
        current = pending.pop(0)
        if current not in order:
            order.append(current)
            pending.extend(ENTITIES[current][0])
    return tuple(order)


ANCESTORS = {kind: _ancestors(kind) for kind in ENTITIES}
# Every property of every type, the nearest definition winning (a subtype narrows its supertype's).
PROPERTIES = {kind: {name: rule for ancestor in reversed(ANCESTORS[kind])
                     for name, rule in ENTITIES[ancestor][1].items()}
              for kind in ENTITIES}
REQUIRED_OF = {kind: tuple(p for ancestor in ANCESTORS[kind] for p in REQUIRED.get(ancestor, ())) for kind in ENTITIES}

DURATION_PATTERN = re.compile(
    r"P(?=\d|T\d)(?:\d{1,12}(?:[.,]\d{1,9})?Y)?(?:\d{1,12}(?:[.,]\d{1,9})?M)?(?:\d{1,12}(?:[.,]\d{1,9})?W)?"
    r"(?:\d{1,12}(?:[.,]\d{1,9})?D)?"
    r"(?:T(?=\d)(?:\d{1,12}(?:[.,]\d{1,9})?H)?(?:\d{1,12}(?:[.,]\d{1,9})?M)?(?:\d{1,12}(?:[.,]\d{1,9})?S)?)?")


def check_item(item: dict) -> None:
    """Raise InvalidEvent saying what breaks the Caliper model in one item of an envelope's data
    (an event or an entity describe, already known to be a JSON object with a string type)."""
    extended = _context(item.get("@context"), "@context", False)
    if item["type"] in EVENTS or (item["type"].endswith("Event") and not extended):
        _check_event(item, extended)
    else:
        _check_entity(item, DESCRIBABLE, "", extended, 0)


def _check_event(event: dict, extended: bool) -> None:
    kind = event["type"]
    if kind not in EVENTS:
        raise InvalidEvent(f"type {_shown(kind)} is not a Caliper event type")
    missing = [name for name in EVENT_REQUIRED if event.get(name) in (None, "", {})]
    if missing:
        raise InvalidEvent(f"the event is missing {', '.join(missing)}")
    rules = EVENTS[kind]
    action = event["action"]
    if not isinstance(action, str) or action not in rules.actions:
        raise InvalidEvent(f"action {_shown(action)} is not a{'n' if kind[0] in 'AEIOU' else ''} {kind} action")
    for when, name in rules.required_when:
        if action == when and event.get(name) in (None, "", {}):
            raise InvalidEvent(f"a {kind} {when} needs {name}")
    for name, rule in {**EVENT_PROPERTIES, **rules.properties}.items():
        if name in event:
            _check_value(event[name], rule, name, extended, 0)


def _check_entity(entity: dict, allowed: tuple[str, ...], path: str, extended: bool, depth: int) -> None:
    """An entity given as an object: its type is allowed here, its properties hold what its type says."""
    if depth > MAX_DEPTH:
        raise InvalidEvent(f"{path or 'the item'}: entities are nested deeper than {MAX_DEPTH} levels")
    if "@context" in entity:
        extended = _context(entity["@context"], _at(path, "@context"), extended)
    kind = entity.get("type")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent(f"{_at(path, 'type')} is required")
    if kind in ENTITIES:
        ancestors = ANCESTORS[kind]
    elif extended:
        ancestors = ("Entity",)  # a type of the item's own vocabulary: read as a plain entity
    else:
        raise InvalidEvent(f"{_at(path, 'type')} {_shown(kind)} is not a Caliper entity type")
    if not set(ancestors) & set(allowed):
        raise InvalidEvent(f"{path or 'the item'} must be {_either(allowed)} or its IRI, not {_shown(kind)}")
    rules = PROPERTIES.get(kind, PROPERTIES["Entity"])
    for name in REQUIRED_OF.get(kind, REQUIRED_OF["Entity"]):
        if entity.get(name) is None:
            raise InvalidEvent(f"{_at(path, name)} is required")
    for name, rule in rules.items():
        if name in entity:
            _check_value(entity[name], rule, _at(path, name), extended, depth)


def _check_value(value, rule, path: str, extended: bool, depth: int) -> None:
    if isinstance(rule, Ref):
        if isinstance(value, str):
            if not is_iri(value):
                raise InvalidEvent(f"{path} {_shown(value)} is neither an object nor an IRI")
        elif isinstance(value, dict):
            _check_entity(value, rule.types, path, extended, depth + 1)
        else:
            raise InvalidEvent(f"{path} must be {_either(rule.types)} object or an IRI")
    elif isinstance(rule, ListOf):
        if not isinstance(value, list):
            raise InvalidEvent(f"{path} must be a list")
        for index, element in enumerate(value):
            _check_value(element, rule.item, f"{path}[{index}]", extended, depth)
    elif isinstance(rule, Term):
        if not isinstance(value, str) or value not in rule.values:
            raise InvalidEvent(f"{path} {_shown(value)} is not {rule.name}")
    elif not _is(value, rule):
        raise InvalidEvent(f"{path} {_shown(value)} is not {rule}")


def _is(value, kind: str) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == DECIMAL:  # "a number with a fractional part denoted by a decimal separator"
        return isinstance(value, float) and math.isfinite(value)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == MAP:
        return isinstance(value, dict)
    if kind == IRI:
        return is_iri(value)
    if kind == DURATION:
        return isinstance(value, str) and len(value) <= 64 and DURATION_PATTERN.fullmatch(value) is not None
    if kind == DATETIME:
        if not isinstance(value, str):
            return False
        try:
            parse_time(value)
        except InvalidEvent:
            return False
        return True
    raise AssertionError(kind)


def _context(value, path: str, extended: bool) -> bool:
    """Check a JSON-LD @context; True when it adds terms of its own to Caliper's (its types are then allowed)."""
    if isinstance(value, str):
        if value not in CONTEXTS:
            raise InvalidEvent(f"{path} {_shown(value)} is not a Caliper context")
        return extended
    if isinstance(value, dict):
        return True  # an inline context defines its own terms
    if isinstance(value, list) and value and all(isinstance(v, dict) or is_iri(v) for v in value):
        if not any(v in CONTEXTS for v in value if isinstance(v, str)):
            raise InvalidEvent(f"{path} must include a Caliper context")
        return extended or len(value) > 1
    if value is None:
        return extended
    raise InvalidEvent(f"{path} must be a Caliper context IRI, an object or a list of them")


def _at(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _either(types: tuple[str, ...]) -> str:
    names = " or ".join(types)
    return f"an {names}" if names[0] in "AEIOU" else f"a {names}"


def _shown(value) -> str:
    """A value as a message quotes it: short, and never the whole of a long string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
