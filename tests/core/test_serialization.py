import json
from decimal import Decimal

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    AuditTrail,
    BusinessCalendar,
    Coding,
    DomainEvent,
    Interval,
    NaiveDatetimeError,
    ParseError,
    Patient,
    Quantity,
    ValidationError,
    epoch_us,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from caredomain.testing import strategies as cst


@attrs.frozen(kw_only=True)
class NoteAdded(DomainEvent):
    note: str


@attrs.frozen(kw_only=True)
class Escalated(DomainEvent):
    level: int = 1


EVERY_TYPE = [
    cst.codings(),
    cst.codeable_concepts(),
    cst.identifiers(),
    cst.references(),
    cst.intervals(),
    cst.quantities(),
    cst.human_names(),
    cst.contact_points(),
    cst.addresses(),
    cst.patients(),
    cst.practitioners(),
    cst.organizations(),
    cst.locations(),
    cst.coverages(),
    cst.encounters(),
    cst.observation_results(),
    cst.business_calendars(),
    cst.audit_entries(),
    cst.audit_trails(),
    cst.domain_events(NoteAdded, note=st.text(min_size=1)),
]


@pytest.mark.parametrize("strategy", EVERY_TYPE, ids=lambda s: repr(s)[:40])
@given(data=st.data())
def test_json_round_trip_is_identity_for_every_core_type(strategy, data):
    value = data.draw(strategy)
    text = to_json(value)
    back = from_json(text, type(value))
    assert back == value
    # Equality ignores display text on codings, so compare the whole JSON too.
    assert to_dict(back) == to_dict(value)
    assert json.loads(text) == to_dict(value)


@given(cst.aware_datetimes())
def test_datetimes_keep_their_instant_and_offset(moment):
    interval = Interval(moment, moment)
    back = from_json(to_json(interval), Interval)
    assert back == interval
    assert epoch_us(back.start) == epoch_us(moment)
    assert back.start.utcoffset() == moment.utcoffset()


def test_datetime_is_rfc3339_with_offset_and_decimal_is_a_string():
    value = Interval(
        pendulum.datetime(2026, 3, 8, 1, 30, tz="America/Chicago"),
        pendulum.datetime(2026, 3, 8, 3, 30, tz="America/Chicago"),
    )
    assert to_dict(value) == {
        "start": "2026-03-08T01:30:00-06:00",
        "end": "2026-03-08T03:30:00-05:00",
    }
    assert to_dict(Quantity("72.50", "kg")) == {"value": "72.50", "unit": "kg"}
    assert from_dict({"value": 72.5, "unit": "kg"}, Quantity).value == Decimal("72.5")


def test_sets_are_sorted_lists():
    calendar = BusinessCalendar(weekend={6, 5}, closures=[pendulum.date(2026, 12, 24)])
    data = to_dict(calendar)
    assert data["weekend"] == [5, 6]
    assert data["closures"] == ["2026-12-24"]
    assert "_years" not in data
    assert "years" not in data


def test_events_are_tagged_and_read_back_as_their_class():
    events = (
        NoteAdded(event_id="e1", occurred_at=pendulum.datetime(2026, 1, 1, tz="UTC"), note="x"),
        Escalated(event_id="e2", occurred_at=pendulum.datetime(2026, 1, 2, tz="UTC"), level=2),
    )
    data = to_dict(list(events))
    assert [d["type"] for d in data] == ["NoteAdded", "Escalated"]
    back = from_dict(data, list[DomainEvent])
    assert back == list(events)
    assert [type(e) for e in back] == [NoteAdded, Escalated]
    assert from_dict(data[0], NoteAdded) == events[0]


def test_event_with_unknown_type_is_a_validation_error():
    with pytest.raises(ValidationError) as info:
        from_dict({"type": "NoSuchEvent", "event_id": "e1"}, DomainEvent)
    assert "registered domain event type" in str(info.value)


def test_event_of_the_wrong_class_is_refused():
    data = to_dict(
        NoteAdded(event_id="e1", occurred_at=pendulum.datetime(2026, 1, 1, tz="UTC"), note="x")
    )
    with pytest.raises(ValidationError):
        from_dict(data, Escalated)


def test_every_problem_is_reported_with_its_path():
    data = {
        "id": "p1",
        "names": [{"family": 7, "given": "Ann"}],
        "birth_date": "07/19/1961",
        "sex": "F",
        "telecom": [{"system": "phone"}],
        "colour": "blue",
    }
    with pytest.raises(ValidationError) as info:
        from_dict(data, Patient)
    paths = {p.path: p.message for p in info.value.problems}
    assert paths["$.names[0].family"] == "expected str or null"
    assert paths["$.names[0].given"] == "expected an array"
    assert paths["$.birth_date"].startswith("expected a date")
    assert paths["$.sex"] == "expected one of: male, female, other, unknown or null"
    assert paths["$.telecom[0].value"] == "required key missing"
    assert paths["$"] == "unknown keys: colour"
    assert info.value.subject == "Patient"
    assert isinstance(info.value, ValueError)


def test_goal_like_nested_path_is_reported():
    @attrs.frozen
    class Target:
        low: Quantity
        high: Quantity

    @attrs.frozen
    class Goal:
        targets: tuple[Target, ...]

    data = {
        "targets": [
            {"low": {"value": "1", "unit": "kg"}, "high": {"value": "2", "unit": "kg"}},
            {"low": {"value": "1", "unit": "kg"}, "high": {"value": "two", "unit": "kg"}},
        ]
    }
    with pytest.raises(ValidationError) as info:
        from_dict(data, Goal)
    assert [p.path for p in info.value.problems] == ["$.targets[1].high.value"]


def test_naive_datetime_in_json_is_a_naive_datetime_error_with_its_path():
    with pytest.raises(NaiveDatetimeError) as info:
        from_dict({"start": "2026-03-02T09:00:00", "end": "2026-03-02T10:00:00Z"}, Interval)
    assert info.value.location == "$.start"
    assert "aware" in str(info.value)


def test_cross_field_rule_errors_keep_their_location():
    with pytest.raises(ValidationError) as info:
        from_dict({"start": "2026-03-02T10:00:00Z", "end": "2026-03-02T09:00:00Z"}, Interval)
    assert "end at or after start" in str(info.value)


def test_non_object_input_is_a_validation_error():
    with pytest.raises(ValidationError):
        from_dict(["not", "an", "object"], Patient)
    with pytest.raises(ValidationError):
        from_dict(None, Coding)


@pytest.mark.parametrize(
    ("value", "message"),
    [(True, "expected int"), ("3", "expected int"), (3.0, "expected int")],
)
def test_scalars_are_strict(value, message):
    @attrs.frozen
    class Counter:
        count: int

    with pytest.raises(ValidationError) as info:
        from_dict({"count": value}, Counter)
    assert message in str(info.value)


def test_bad_json_is_a_parse_error_with_a_position():
    with pytest.raises(ParseError) as info:
        from_json('{"id": "p1", "names": [}', Patient)
    assert info.value.location == "line 1, column 24"
    with pytest.raises(ParseError):
        from_json(b"\xff\xfe", Patient)


def test_audit_trail_round_trip_keeps_order():
    trail = AuditTrail()
    assert from_json(to_json(trail), AuditTrail) == trail
