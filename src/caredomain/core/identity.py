"""Identity: business identifiers, typed references, and id generation.

* `Identifier` is what another system calls a thing (an MRN, an NPI, a placer order
  number): FHIR ``Identifier``, HL7 v2 ``CX``/``EI``.
* `Reference` points at a domain value by its caredomain id, by an identifier, or by
  both, and names the kind of thing it points at (FHIR ``Reference.type``).
* `IdSource` makes ids. `RandomIds` gives UUIDv4 strings; `SequentialIds`
  gives the same sequence for the same seed (reproducible tests); `stable_id` derives
  an id from content (UUIDv5), so converting the same message twice yields the same ids.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final, Protocol, runtime_checkable

import attrs

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError

__all__ = [
    "CAREDOMAIN_NAMESPACE",
    "REFERENCE_TARGETS",
    "IdSource",
    "Identifier",
    "RandomIds",
    "Reference",
    "SequentialIds",
    "stable_id",
]

CAREDOMAIN_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_DNS, "caredomain.dev")
"""The UUIDv5 namespace of caredomain's derived ids (uuid5 of the DNS namespace and
``caredomain.dev``), fixed forever so that derived ids are stable across releases.
"""

REFERENCE_TARGETS: Final = frozenset(
    {
        "Appointment",
        "CarePlan",
        "CareTeam",
        "Claim",
        "ClaimResponse",
        "CommunicationRequest",
        "Condition",
        "Coverage",
        "Device",
        "DocumentReference",
        "Encounter",
        "Goal",
        "HealthcareService",
        "Location",
        "Observation",
        "Organization",
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "RelatedPerson",
        "Schedule",
        "ServiceRequest",
        "Slot",
        "Task",
    }
)
"""The kinds of value a `Reference` may point at: FHIR resource type names of the resources
caredomain's domain values map to.
"""


def _check_value(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or value != value.strip():
        raise ValidationError.at(
            attribute.name, "expected a non-empty string without surrounding spaces"
        )


@attrs.frozen
class Identifier:
    """A business identifier issued by some system (MRN, NPI, member id, order number).

    Attributes:
        value: The identifier itself. Never formatted into error messages.
        system: The namespace URI that issued it (``http://hl7.org/fhir/sid/us-npi``), if
            known; two identifiers with different systems are different even if their values
            match.
        type: What kind of identifier it is, usually coded in HL7 v2 table 0203 (``MR``,
            ``NPI``, ``MB``...).
    """

    value: str = attrs.field(validator=_check_value, repr=False)
    system: str | None = None
    type: CodeableConcept | None = None


def _check_target(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value not in REFERENCE_TARGETS:
        raise ValidationError.at(
            "target", f"expected one of {', '.join(sorted(REFERENCE_TARGETS))}"
        )


@attrs.frozen
class Reference:
    """A typed pointer to another domain value.

    At least one of ``id`` (caredomain's own id, also the FHIR logical id) and
    ``identifier`` (a business identifier, for references read from HL7 v2 where only the
    MRN is known) is set.

    Attributes:
        target: The kind of value pointed at, a FHIR resource type name
            (see `REFERENCE_TARGETS`).
        id: The target's id, if known.
        identifier: The target's business identifier, if known.
        display: Text for humans; not used for matching. Kept out of ``repr``.
    """

    target: str = attrs.field(validator=_check_target)
    id: str | None = None
    identifier: Identifier | None = None
    display: str | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.id is None and self.identifier is None:
            raise ValidationError.at("Reference", "expected an id, an identifier, or both")
        if self.id is not None and not self.id.strip():
            raise ValidationError.at("Reference.id", "expected a non-empty id")

    @classmethod
    def to(cls, target: str, id: str) -> Reference:
        """A reference to the value of kind ``target`` whose id is ``id``."""
        return cls(target, id=id)

    def __str__(self) -> str:
        return f"{self.target}/{self.id}" if self.id is not None else f"{self.target}?identifier"


def stable_id(*parts: str) -> str:
    """Derive a stable id from content: the same parts always give the same id.

    Used by converters so that the same HL7 message converted twice yields the same FHIR
    ids, and by tests. The result is a UUIDv5 string in `CAREDOMAIN_NAMESPACE`.

    >>> stable_id("MSG00001", "PID", "1") == stable_id("MSG00001", "PID", "1")
    True
    """
    if not parts:
        raise ValidationError.at("stable_id", "expected at least one part")
    # The unit separator cannot appear in HL7 or JSON text ids, so joins are unambiguous.
    return _uuid5("\x1f".join(parts))


_NAMESPACE_SHA1: Final = hashlib.sha1(CAREDOMAIN_NAMESPACE.bytes)


def _uuid5(name: str) -> str:
    # RFC 4122 section 4.3 (name-based, SHA-1), exactly what uuid.uuid5 computes, in a third
    # of its time: the namespace is hashed once, and the string is formatted directly.
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode("utf-8"))
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


@runtime_checkable
class IdSource(Protocol):
    """Anything that hands out new ids: engines take one instead of calling ``uuid4``."""

    def new_id(self) -> str:
        """Return an id not returned before by this source."""
        ...


class RandomIds:
    """Random UUIDv4 ids: the production default."""

    def new_id(self) -> str:
        """Return a fresh random UUID string."""
        return str(uuid.uuid4())


class SequentialIds:
    """Deterministic ids: the same seed yields the same sequence of UUID-shaped ids.

    Args:
        seed: Any string; two sources with the same seed yield the same ids in order.
    """

    def __init__(self, seed: str = "caredomain") -> None:
        self._seed = seed
        self._count = 0

    def new_id(self) -> str:
        """Return the next id of this seed's sequence."""
        self._count += 1
        return stable_id(self._seed, str(self._count))
