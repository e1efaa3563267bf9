"""The role policy from config/roles.toml (DESIGN §3)."""
from __future__ import annotations

import pytest

from config import CONFIG_DIR
from lti_tool.launch.roles import RolePolicy, RolePolicyError

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.fixture(scope="module")
def policy():
    return RolePolicy.load(CONFIG_DIR / "roles.toml")


@pytest.mark.parametrize("roles, level, label", [
    ([LIS + "membership#Instructor"], "owner", "Teacher"),
    ([LIS + "membership#Instructor", LIS + "membership/Instructor#TeachingAssistant"], "co-editor", "TA"),
    ([LIS + "membership/Instructor#TeachingAssistant", LIS + "membership#Instructor"], "co-editor", "TA"),
    ([LIS + "membership#ContentDeveloper"], "co-editor", "Designer"),
    ([LIS + "membership#Learner"], "viewer", "Student"),
    ([LIS + "membership#Learner", "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"], "viewer", "Student"),
    ([LIS + "membership#Mentor"], "viewer", "Observer"),
    (["Instructor"], "owner", "Teacher"),
    (["Learner"], "viewer", "Student"),
    ([LIS + "institution/person#Administrator"], "admin", "Account admin"),
    ([LIS + "system/person#SysAdmin"], "admin", "Site admin"),
    ([LIS + "institution/person#Administrator", LIS + "membership#Learner"], "admin", "Account admin"),
    ([LIS + "institution/person#Instructor"], "none", "No course role"),
    ([LIS + "institution/person#Instructor", LIS + "membership#Learner"], "viewer", "Student"),
    (["http://example.com/unknown#Role"], "none", "No course role"),
    ([], "none", "No course role"),
])
def test_decisions(policy, roles, level, label):
    decision = policy.decide(roles)
    assert (decision.level, decision.label) == (level, label)


def test_admin_keeps_its_course_level(policy):
    decision = policy.decide([LIS + "institution/person#Administrator", LIS + "membership#Instructor"])
    assert decision.level == "admin" and decision.course_level == "owner"


def test_policy_file_errors_name_the_rule(tmp_path):
    bad = tmp_path / "roles.toml"
    bad.write_text('[[course]]\nrole = "x"\nlevel = "emperor"\n')
    with pytest.raises(RolePolicyError, match="rule 1"):
        RolePolicy.load(bad)
    bad.write_text('[[course]]\nrole = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"\nlevel = "owner"\n')
    with pytest.raises(RolePolicyError, match="institution roles never grant"):
        RolePolicy.load(bad)
    bad.write_text("not toml [")
    with pytest.raises(RolePolicyError, match="cannot read"):
        RolePolicy.load(bad)


def test_an_institution_can_override_the_policy(tmp_path):
    custom = tmp_path / "roles.toml"
    custom.write_text(f'[[course]]\nrole = "{LIS}membership#ContentDeveloper"\nlevel = "owner"\nlabel = "Designer"\n')
    assert RolePolicy.load(custom).decide([LIS + "membership#ContentDeveloper"]).level == "owner"
