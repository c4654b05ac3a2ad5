import attrs
import pendulum
import pytest

from caredomain.core import (
    AuditEntry,
    AuditTrail,
    DomainEvent,
    NaiveDatetimeError,
    RuleError,
    ValidationError,
    event_class,
    event_types,
)


@attrs.frozen(kw_only=True)
class ThingHappened(DomainEvent):
    detail: str = ""


@attrs.frozen(kw_only=True)
class Renamed(DomainEvent):
    event_type = "thing-renamed"


def test_subclasses_register_under_their_type_name():
    assert event_class("ThingHappened") is ThingHappened
    assert ThingHappened.event_type == "ThingHappened"
    assert event_class("thing-renamed") is Renamed
    assert {"ThingHappened", "thing-renamed"} <= event_types()
    with pytest.raises(ValidationError):
        event_class("Nope")


def test_a_second_class_with_the_same_type_name_is_a_rule_error():
    with pytest.raises(RuleError, match="already registered"):

        @attrs.frozen(kw_only=True)
        class ThingHappened(DomainEvent):
            pass


def test_events_need_aware_times_and_an_id():
    import datetime as dt

    with pytest.raises(NaiveDatetimeError) as info:
        ThingHappened(event_id="e1", occurred_at=dt.datetime(2026, 1, 1))
    assert info.value.location == "ThingHappened.occurred_at"
    with pytest.raises(ValidationError):
        ThingHappened(event_id="", occurred_at=pendulum.now("UTC"))


def test_audit_trail_is_immutable_and_indexed_by_event_id():
    now = pendulum.datetime(2026, 1, 1, tz="UTC")
    entry = AuditEntry("e1", "ThingHappened", now, now, "a", "b")
    empty = AuditTrail()
    trail = empty.append(entry)
    assert len(empty) == 0
    assert len(trail) == 1
    assert "e1" in trail
    assert "e2" not in trail
    assert trail.last == entry
    assert empty.last is None
    assert list(trail) == [entry]
