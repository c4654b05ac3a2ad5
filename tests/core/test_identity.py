import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    REFERENCE_TARGETS,
    Identifier,
    IdSource,
    RandomIds,
    Reference,
    SequentialIds,
    ValidationError,
    stable_id,
)


def test_stable_ids_are_deterministic_and_distinct():
    assert stable_id("MSG1", "PID", "1") == stable_id("MSG1", "PID", "1")
    assert stable_id("MSG1", "PID", "1") != stable_id("MSG1", "PID", "2")
    # No ambiguity from joining: ("a|b",) and ("a", "b") differ.
    assert stable_id("a|b") != stable_id("a", "b")
    assert uuid.UUID(stable_id("x")).version == 5
    with pytest.raises(ValidationError):
        stable_id()


def test_sequential_ids_repeat_per_seed():
    a, b = SequentialIds("seed"), SequentialIds("seed")
    first = [a.new_id() for _ in range(3)]
    assert first == [b.new_id() for _ in range(3)]
    assert len(set(first)) == 3
    assert SequentialIds("other").new_id() != first[0]


def test_random_ids_are_unique_uuid4():
    ids = RandomIds()
    assert isinstance(ids, IdSource)
    values = {ids.new_id() for _ in range(100)}
    assert len(values) == 100
    assert uuid.UUID(next(iter(values))).version == 4


def test_reference_targets_are_typed():
    ref = Reference.to("Patient", "p1")
    assert str(ref) == "Patient/p1"
    with pytest.raises(ValidationError):
        Reference.to("Patients", "p1")
    assert "Patient" in REFERENCE_TARGETS


def test_reference_needs_id_or_identifier():
    with pytest.raises(ValidationError):
        Reference("Patient")
    with pytest.raises(ValidationError):
        Reference("Patient", id=" ")
    by_mrn = Reference("Patient", identifier=Identifier("12345", "urn:mrn"))
    assert by_mrn.id is None
    assert "12345" not in repr(by_mrn)
    assert "12345" not in str(by_mrn)


def test_reference_display_does_not_take_part_in_equality():
    assert Reference("Patient", "p1", display="A") == Reference("Patient", "p1", display="B")


def test_identifier_value_is_not_in_repr():
    ident = Identifier("MRN-55", "urn:mrn")
    assert "MRN-55" not in repr(ident)
    with pytest.raises(ValidationError):
        Identifier("")


@given(st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_stable_id_is_exactly_rfc_4122_uuid5_in_the_caredomain_namespace(parts):
    import uuid

    from caredomain.core import CAREDOMAIN_NAMESPACE

    expected = str(uuid.uuid5(CAREDOMAIN_NAMESPACE, "\x1f".join(parts)))
    assert stable_id(*parts) == expected
