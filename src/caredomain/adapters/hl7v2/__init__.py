"""HL7 v2: read the feeds hospitals send into caredomain's domain values, and send back.

- `parse` tokenizes one message lazily (CR, LF or CRLF; MLLP frames; a BOM; custom encoding
  characters; every escape sequence; MSH-18 character sets), leniently by default and, with
  ``strict=True``, validated through hl7apy's tables. `Message` gives path access
  (``msg["PID-3[2].1"]``), `Item` views for the typed readers in `datatypes`, and group
  iteration (``msg.groups("PATIENT_RESULT/ORDER_OBSERVATION")``).
- `read` (in `inbound`) maps ADT, SIU, REF/RRI and ORU messages to domain values through
  `adt`, `siu`, `ref` and `oru`, given a `SenderProfile` (the sender's timezone and
  identifier systems); `siu` and `ref` also build messages, `ack` builds acknowledgments.
- `MllpFramer` frames bytes sans-IO; `transport` is the asyncio MLLP server and client.

Errors are `Hl7ParseError` with the segment, field, repetition and component, and never the
content of the message.
"""

from caredomain.adapters.hl7v2._message import (
    Delimiters,
    Hl7ParseError,
    Item,
    Message,
    Segment,
    escape,
    parse,
)
from caredomain.adapters.hl7v2._mllp import MllpFrameError, MllpFramer
from caredomain.adapters.hl7v2.ack import AckCode, build_ack
from caredomain.adapters.hl7v2.inbound import InboundMessage, read, read_bytes
from caredomain.adapters.hl7v2.profile import SenderProfile

__all__ = [
    "AckCode",
    "Delimiters",
    "Hl7ParseError",
    "InboundMessage",
    "Item",
    "Message",
    "MllpFrameError",
    "MllpFramer",
    "Segment",
    "SenderProfile",
    "build_ack",
    "escape",
    "parse",
    "read",
    "read_bytes",
]
