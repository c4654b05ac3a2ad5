"""One entry point for inbound HL7 v2: any supported message to its domain values.

`read` looks at MSH-9 and hands the message to the reader of its family: ADT to
`caredomain.adapters.hl7v2.adt.read_adt`, SIU to `~caredomain.adapters.hl7v2.siu.read_siu`,
REF and RRI to `~caredomain.adapters.hl7v2.ref.read_ref`, ORU to
`~caredomain.adapters.hl7v2.oru.read_oru`. An interface that receives a mixed feed (one MLLP
port, one batch file) calls `read` and matches on the type of what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeAlias

from caredomain.adapters.hl7v2._message import Hl7ParseError, Message, parse
from caredomain.adapters.hl7v2.adt import AdtMessage, read_adt
from caredomain.adapters.hl7v2.oru import ResultMessage, read_oru
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.ref import ReferralMessage, read_ref
from caredomain.adapters.hl7v2.siu import SchedulingMessage, read_siu

__all__ = ["READERS", "InboundMessage", "read", "read_bytes"]

InboundMessage: TypeAlias = AdtMessage | SchedulingMessage | ReferralMessage | ResultMessage
"""What `read` returns: the domain values of one ADT, SIU, REF/RRI or ORU message."""

READERS: Final[dict[str, Callable[..., InboundMessage]]] = {
    "ADT": read_adt,
    "SIU": read_siu,
    "REF": read_ref,
    "RRI": read_ref,
    "ORU": read_oru,
}
"""Message type (MSH-9.1) -> its reader; each takes the message and ``profile=``."""


def read(message: Message, *, profile: SenderProfile) -> InboundMessage:
    """The domain values of one parsed message, by its type (MSH-9).

    Raises:
        Hl7ParseError: The type is not one caredomain maps (at MSH-9), or the message
            cannot be read as its type (at the field that failed). Never with content.
    """
    reader = READERS.get(message["MSH-9.1"])
    if reader is None:
        raise Hl7ParseError(
            "a message type caredomain maps: ADT, SIU, REF, RRI or ORU",
            segment_index=1,
            segment_id="MSH",
            field=9,
        )
    return reader(message, profile=profile)


def read_bytes(data: bytes | str, *, profile: SenderProfile) -> InboundMessage:
    """`parse` then `read`: raw message text (framed or not) to its domain values."""
    return read(parse(data), profile=profile)
