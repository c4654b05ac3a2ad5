import datetime as dt

import pendulum
import pytest

from caredomain.core import NaiveDatetimeError, RuleError, ValidationError, from_json, to_json
from caredomain.scheduling import (
    DEFAULT_POLICY,
    AppointmentRequest,
    Predecessor,
    Preferences,
    UrgencyClass,
    UrgencyPolicy,
)

CHI = "America/Chicago"
RELEASE = pendulum.datetime(2026, 12, 1, tz=CHI)


def request(**kw):
    args = {
        "id": "r1",
        "patient": "p1",
        "urgency": "urgent",
        "duration": dt.timedelta(minutes=30),
        "release": RELEASE,
        "due": RELEASE.add(days=5),
        "any_of": ["dr-ortiz", "dr-chen"],
    } | kw
    return AppointmentRequest(**args)


def test_default_policy_follows_the_access_targets():
    assert DEFAULT_POLICY["emergent"].target == dt.timedelta(0)
    assert DEFAULT_POLICY["urgent"].target == dt.timedelta(days=2)
    assert DEFAULT_POLICY["post-discharge"].target == dt.timedelta(days=7)
    assert DEFAULT_POLICY["routine"].target == dt.timedelta(days=30)
    assert "routine" in DEFAULT_POLICY
    with pytest.raises(ValidationError):
        DEFAULT_POLICY["whenever"]


def test_policy_from_the_problem_file_shape():
    policy = UrgencyPolicy.from_mapping(
        {"urgent": {"target_days": 2, "weight": 20, "unassigned_penalty": 20000}}, 0.02
    )
    assert policy["urgent"] == UrgencyClass("urgent", dt.timedelta(days=2), 20.0, 20000.0)
    assert policy.wait_weight == 0.02


POLICY_TOML = """\
wait_weight = 0.05

[urgency.urgent]
target = "P2D"
weight = 20
unassigned_penalty = 20000

[urgency.routine]
target = "P30D"
weight = 1
unassigned_penalty = 1000
"""


def test_policy_from_toml():
    policy = UrgencyPolicy.from_toml(POLICY_TOML, "clinic-policy.toml")
    assert policy.wait_weight == 0.05
    assert policy["routine"].target == dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (POLICY_TOML.replace('target = "P30D"', 'target = "P1M"'), 9, "urgency.routine.target"),
        (POLICY_TOML.replace("weight = 1\n", "weight = -1\n"), 10, "urgency.routine.weight"),
        (
            POLICY_TOML.replace("unassigned_penalty = 1000", "penalty = 1000"),
            11,
            "urgency.routine.penalty",
        ),
        (POLICY_TOML.replace("wait_weight = 0.05", "wait_weight = 'x'"), 1, "wait_weight"),
        (POLICY_TOML + "colour = 1\n", 12, "urgency.routine.colour"),
        ("colour = 1\n" + POLICY_TOML, 1, "colour"),
        (POLICY_TOML.replace("[urgency.urgent]", "[urgency.urgent"), 3, None),
    ],
)
def test_policy_errors_name_file_line_and_key(text, line, key):
    with pytest.raises(RuleError) as info:
        UrgencyPolicy.from_toml(text, "clinic-policy.toml")
    err = info.value
    assert err.source == "clinic-policy.toml"
    assert err.line == line
    assert err.key == key


def test_duplicate_class_names_are_refused():
    c = UrgencyClass("urgent", dt.timedelta(days=2), 1, 1)
    with pytest.raises(ValidationError):
        UrgencyPolicy([c, c])


def test_request_validation():
    assert request().due > request().release
    with pytest.raises(ValidationError, match="window is empty"):
        request(due=RELEASE.subtract(minutes=1))
    with pytest.raises(NaiveDatetimeError):
        request(release=dt.datetime(2026, 12, 1))
    with pytest.raises(ValidationError):
        request(duration=dt.timedelta(0))
    with pytest.raises(ValidationError):
        request(any_of=[])
    with pytest.raises(ValidationError):
        request(any_of="dr-ortiz")
    with pytest.raises(ValidationError):
        request(after=Predecessor("r1", dt.timedelta(0), dt.timedelta(days=1)))
    with pytest.raises(ValidationError):
        request(all_of=["dr-ortiz"])
    with pytest.raises(ValidationError):
        Predecessor("r0", dt.timedelta(days=3), dt.timedelta(days=1))
    with pytest.raises(ValidationError):
        Preferences(weekdays=[9])


def test_request_round_trips_as_json():
    value = request(
        all_of=["room-4"],
        preferences=Preferences(weekdays=[1, 3], earliest=dt.time(9), resources=["dr-chen"]),
        usual_provider="dr-chen",
        after=Predecessor("r0", dt.timedelta(days=1), dt.timedelta(days=3)),
    )
    text = to_json(value)
    assert '"duration": "PT30M"' in text
    assert '"min_gap": "P1D"' in text
    assert from_json(text, AppointmentRequest) == value
