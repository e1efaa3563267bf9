"""Role policy: LTI role URIs -> capability level, read from config/roles.toml.

One guard applies it on every request (see `lti_tool.launch.session.require`).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
ANALYTICS = frozenset({"course.view", "gallery", "entry", "rooms", "domains", "user_detail", "exports"})

# What each level may do. "my" is a person's own viewing data, open to everyone enrolled.
CAPABILITIES: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "viewer": frozenset({"my"}),
    "co-editor": ANALYTICS | {"my"},
    "owner": ANALYTICS | {"my", "course.settings"},
    "admin": ANALYTICS | {"my", "course.settings", "tenant.courses", "tool.settings"},
}

# LTI 1.3 allows short context role names ("Instructor") for membership roles.
SHORT_CONTEXT_ROLES = {
    "Instructor": LIS + "membership#Instructor",
    "Learner": LIS + "membership#Learner",
    "ContentDeveloper": LIS + "membership#ContentDeveloper",
    "Mentor": LIS + "membership#Mentor",
    "TeachingAssistant": LIS + "membership/Instructor#TeachingAssistant",
}


class RolePolicyError(Exception):
    pass


@dataclass(frozen=True)
class Decision:
    level: str
    label: str
    course_level: str
    is_admin: bool


@dataclass(frozen=True)
class RolePolicy:
    course_rules: tuple[tuple[str, str, str], ...]  # (role URI, level, label), first match wins
    admin_rules: tuple[tuple[str, str], ...]  # (role URI, label)

    @classmethod
    def load(cls, path: str | Path) -> "RolePolicy":
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RolePolicyError(f"cannot read role policy {path}: {exc}") from exc
        course = []
        for i, rule in enumerate(data.get("course", []), start=1):
            role, level = rule.get("role"), rule.get("level")
            if not role or level not in ("owner", "co-editor", "viewer"):
                raise RolePolicyError(f"{path}: [[course]] rule {i} needs a role and a level of owner, co-editor or viewer")
            if "/institution/" in role:
                raise RolePolicyError(f"{path}: [[course]] rule {i}: institution roles never grant course access")
            course.append((role, level, rule.get("label", level)))
        admin = []
        for i, rule in enumerate(data.get("admin", []), start=1):
            if not rule.get("role"):
                raise RolePolicyError(f"{path}: [[admin]] rule {i} needs a role")
            admin.append((rule["role"], rule.get("label", "Admin")))
        return cls(tuple(course), tuple(admin))

    def labels_that_can(self, capability: str) -> tuple[str, ...]:
        """The role labels (course roles first, then admin roles, in policy order, each once) whose level
        grants `capability`: who may see what, said in the words people know their roles by."""
        labels = [label for _role, level, label in self.course_rules if capability in CAPABILITIES[level]]
        if capability in CAPABILITIES["admin"]:
            labels += [label for _role, label in self.admin_rules]
        return tuple(dict.fromkeys(labels))

    def decide(self, roles: list[str]) -> Decision:
        present = {SHORT_CONTEXT_ROLES.get(r, r) for r in roles if isinstance(r, str)}
        course_level, course_label = "none", "No course role"
        for role, level, label in self.course_rules:
            if role in present:
                course_level, course_label = level, label
                break
        for role, label in self.admin_rules:
            if role in present:
                return Decision("admin", label, course_level, True)
        return Decision(course_level, course_label, course_level, False)
