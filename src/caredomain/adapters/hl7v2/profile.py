"""What caredomain must know about a sender that its messages do not say.

Interface engines (Mirth, Rhapsody, Cloverleaf) keep this per channel: the sender's local
timezone, for timestamps written without a UTC offset, and which identifier system each
assigning authority stands for. A `SenderProfile` is that channel configuration, passed to
every mapper; nothing falls back to the machine's own timezone.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier
from caredomain.core.time import validate_timezone

__all__ = ["SenderProfile"]


def _check_tz(_inst: object, _attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        validate_timezone(value, "SenderProfile.timezone")


def _frozen_map(value: Mapping[str, str]) -> Mapping[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        raise ValidationError.at(
            "SenderProfile.systems", "expected assigning authorities mapped to system URIs"
        )
    return MappingProxyType(dict(value))


@attrs.frozen
class SenderProfile:
    """A sending system's configuration: its timezone and its identifier systems.

    Attributes:
        timezone: IANA zone for timestamps sent without a UTC offset (HL7 v2 TS/DTM allow
            it). Without one, such a timestamp is an error rather than a guess.
        systems: Assigning authority (CX-4/EI-2 namespace, as sent) -> identifier system
            URI, for authorities the sender uses that caredomain cannot resolve itself
            (``{"NORTH": "urn:oid:2.16.840.1.113883.3.999.1"}``).
    """

    timezone: str | None = attrs.field(default=None, validator=_check_tz)
    systems: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map, hash=False)

    def system_for(self, authority: str) -> str | None:
        """The configured system URI for an assigning authority, or None."""
        return self.systems.get(authority)

    def resolve(self, identifier: Identifier | None, authority: str) -> Identifier | None:
        """``identifier`` with the system configured for its assigning ``authority``.

        The authority as sent (CX-4.1, EI-2, XCN-9.1); an authority with no configured
        system leaves the identifier as read.
        """
        if identifier is None or not authority:
            return identifier
        configured = self.systems.get(authority.strip())
        if configured is None or configured == identifier.system:
            return identifier
        return Identifier(identifier.value, configured, identifier.type)
