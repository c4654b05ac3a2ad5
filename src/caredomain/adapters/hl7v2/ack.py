"""HL7 v2 acknowledgments: the ``ACK`` a receiver sends back for every message.

`build_ack` writes a general acknowledgment (HL7 v2.5.1 chapter 2, section 2.9 "Message
processing rules", original acknowledgment mode) as ER7 text with CR segment terminators:
an MSH answering the inbound MSH, an MSA (section 2.15.8) and, when something went wrong,
an ERR (section 2.15.5).

Rules of this module:

1. Every piece of text written into the ACK goes through `escape` with the ACK's own
   delimiters; fields copied from the inbound MSH are copied as written, with the inbound's
   delimiters, which the ACK reuses.
2. The ERR segment carries structure (where, which table-0357 code, which severity) and the
   error's message, which by project rule never contains patient data; nothing is ever
   copied from the inbound message beyond MSH-3..6, MSH-10, MSH-11 and MSH-12.
3. The ERR shape follows the inbound's version: ERR-2..4 and ERR-8 for v2.5 and later,
   ERR-1 (ELD) plus MSA-3 for v2.1 to v2.4.
"""

from __future__ import annotations

import datetime as _dt
import re
from enum import StrEnum
from typing import Final

from caredomain.adapters.hl7v2._message import Delimiters, Hl7ParseError, Message, escape
from caredomain.adapters.hl7v2._writer import DEFAULT_VERSION
from caredomain.core.errors import CareDomainError, ParseError, ValidationError
from caredomain.core.time import ensure_aware

__all__ = [
    "DEFAULT_VERSION",
    "AckCode",
    "ErrorSeverity",
    "Hl7ErrorCode",
    "build_ack",
    "error_code_for",
]

_VERSION: Final = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


class AckCode(StrEnum):
    """MSA-1 in original acknowledgment mode (HL7 v2.5.1 table 0008, section 2.9.2).

    Attributes:
        AA: Application accept: the message was received and processed (here: stored).
        AE: Application error: the message was received but its content is in error.
        AR: Application reject: the message was refused because of its message type,
            version or processing id (section 2.9.2.1), because it could not be read at
            all, or for a reason unrelated to its content (the receiver failed).
    """

    AA = "AA"
    AE = "AE"
    AR = "AR"


class Hl7ErrorCode(StrEnum):
    """ERR-3 (v2.5+) / ELD-4 (v2.3, v2.4): HL7 v2.5.1 table 0357, message error conditions.

    Each member's `text` is the table's description, written as the CWE/CE text component.
    """

    MESSAGE_ACCEPTED = "0"
    SEGMENT_SEQUENCE_ERROR = "100"
    REQUIRED_FIELD_MISSING = "101"
    DATA_TYPE_ERROR = "102"
    TABLE_VALUE_NOT_FOUND = "103"
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT_CODE = "201"
    UNSUPPORTED_PROCESSING_ID = "202"
    UNSUPPORTED_VERSION_ID = "203"
    UNKNOWN_KEY_IDENTIFIER = "204"
    DUPLICATE_KEY_IDENTIFIER = "205"
    APPLICATION_RECORD_LOCKED = "206"
    APPLICATION_INTERNAL_ERROR = "207"

    @property
    def text(self) -> str:
        """The table-0357 description (``"Required field missing"``)."""
        return _TABLE_0357_TEXT[self]


# HL7 v2.5.1 table 0357 "Message error condition codes", descriptions as published.
_TABLE_0357_TEXT: Final[dict[Hl7ErrorCode, str]] = {
    Hl7ErrorCode.MESSAGE_ACCEPTED: "Message accepted",
    Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    Hl7ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    Hl7ErrorCode.DATA_TYPE_ERROR: "Data type error",
    Hl7ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    Hl7ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    Hl7ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    Hl7ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    Hl7ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    Hl7ErrorCode.UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    Hl7ErrorCode.DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    Hl7ErrorCode.APPLICATION_RECORD_LOCKED: "Application record locked",
    Hl7ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class ErrorSeverity(StrEnum):
    """ERR-4: HL7 v2.5.1 table 0516, error severity.

    Attributes:
        ERROR: ``E``: the message was not (fully) processed.
        WARNING: ``W``: processed, but something deserves attention.
        INFORMATION: ``I``: processed; for information only.
    """

    ERROR = "E"
    WARNING = "W"
    INFORMATION = "I"


def build_ack(
    inbound: Message | None,
    code: AckCode,
    *,
    error: CareDomainError | None = None,
    now: _dt.datetime,
    control_id: str,
    sending_application: str = "CAREDOMAIN",
    sending_facility: str = "",
    version: str | None = None,
    error_code: Hl7ErrorCode | None = None,
    severity: ErrorSeverity = ErrorSeverity.ERROR,
) -> str:
    r"""Write the general acknowledgment (``ACK``) of ``inbound`` as ER7 text.

    The ACK answers the inbound MSH (HL7 v2.5.1 section 2.9.2, original mode): its sender
    is the inbound's receiver and the other way round, MSH-9 is ``ACK^<trigger>^ACK``,
    MSA-2 echoes the inbound control id. Segments end with CR.

    Args:
        inbound: The parsed inbound message, or ``None`` when it could not be parsed (then
            MSH-5, MSH-6 and MSA-2 are empty and the version is `DEFAULT_VERSION`).
        code: MSA-1.
        error: Why the message was not accepted: an `Hl7ParseError` (its positions become
            the error location) or any `CareDomainError`. Adds an ERR segment.
        now: MSH-7, an aware datetime, written ``YYYYMMDDHHMMSS+ZZZZ`` in its own offset.
        control_id: MSH-10 of the ACK itself (new for every ACK).
        sending_application: MSH-3 when the inbound names no receiving application (MSH-5).
        sending_facility: MSH-4 when the inbound names no receiving facility (MSH-6).
        version: MSH-12; by default the inbound's version id, else `DEFAULT_VERSION`.
        error_code: ERR-3 (or ELD-4) when ``error`` is set; by default chosen from the
            error: a misplaced or unreadable segment is 100, another parse or validation
            error 102, anything else 207.
        severity: ERR-4 (v2.5 and later) when ``error`` is set.

    Returns:
        The ACK, segments separated and terminated by ``\r``.

    Raises:
        NaiveDatetimeError: ``now`` has no UTC offset.
    """
    moment = ensure_aware(now, "build_ack(now)")
    d = inbound.delimiters if inbound is not None else Delimiters()
    msh = next(iter(inbound)) if inbound is not None else None
    ack_version = version or (inbound.version if inbound is not None else "") or DEFAULT_VERSION
    level = _version_tuple(ack_version)
    f = d.field

    def raw(number: int) -> str:
        return msh.raw_field(number) if msh is not None else ""

    # HL7 v2.5.1 section 2.9.2: the response swaps the sender and receiver of the inbound.
    sender = raw(5) or escape(sending_application, d)
    sender_facility = raw(6) or escape(sending_facility, d)
    trigger = escape(msh.value(9, 1, 2), d) if msh is not None else ""
    # MSH-9 is MSG (code^trigger^structure) from v2.3.1; CM_MSG (code^trigger) before.
    message_type = f"ACK{d.component}{trigger}"
    if level >= (2, 3, 1):
        message_type += f"{d.component}ACK"
    processing_id = raw(11) or "P"
    encoding = f"{d.component}{d.repetition}{d.escape}{d.subcomponent}"
    header = f.join(
        (
            "MSH",
            encoding,
            sender,
            sender_facility,
            raw(3),
            raw(4),
            moment.strftime("%Y%m%d%H%M%S%z"),
            "",
            message_type,
            escape(control_id, d),
            processing_id,
            escape(ack_version, d),
        )
    )
    # HL7 v2.5.1 section 2.15.8: MSA-1 acknowledgment code, MSA-2 the inbound MSH-10.
    msa = ["MSA", code.value, raw(10)]
    segments = [header]
    if error is None:
        segments.append(f.join(msa))
        return "\r".join(segments) + "\r"
    chosen = error_code or error_code_for(error)
    location = _location(error, inbound)
    if level >= (2, 5):
        # HL7 v2.5.1 section 2.15.5: ERR-1 (ELD) is kept for backward compatibility only;
        # ERR-2 error location (ERL), ERR-3 HL7 error code (CWE, table 0357), ERR-4
        # severity (table 0516), ERR-8 user message (TX).
        err = [
            "ERR",
            "",
            d.component.join(escape(part, d) for part in location),
            d.component.join((chosen.value, escape(chosen.text, d), "HL70357")),
            severity.value,
            "",
            "",
            "",
            escape(str(error), d),
        ]
        segments.extend((f.join(msa), f.join(err)))
    else:
        # HL7 v2.3/v2.4 chapter 2, ERR segment: ERR-1 error code and location (ELD):
        # segment id ^ sequence ^ field position ^ code identifying error (CE, whose parts
        # are therefore subcomponents).
        # The error's text goes to MSA-3 "text message" (ST, 80 characters).
        coded = d.subcomponent.join((chosen.value, escape(chosen.text, d), "HL70357"))
        eld = [escape(part, d) for part in location[:3]]
        eld += [""] * (3 - len(eld))
        msa.append(escape(str(error)[:80], d))
        segments.extend((f.join(msa), f.join(("ERR", d.component.join((*eld, coded))))))
    return "\r".join(segments) + "\r"


def _version_tuple(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if match is None:
        return _version_tuple(DEFAULT_VERSION)
    return (int(match[1]), int(match[2]), int(match[3] or 0))


def error_code_for(error: CareDomainError) -> Hl7ErrorCode:
    """The table-0357 code (HL7 v2.5.1 table 0357) `build_ack` picks for ``error``.

    An `Hl7ParseError` that names no field (no MSH first, a line that is not a segment) is
    100 "Segment sequence error"; any other parse or validation error is 102 "Data type
    error"; anything else is 207 "Application internal error". Pass ``error_code`` to
    `build_ack` when you know better (101, 103, 200, 201, 203...).
    """
    if isinstance(error, Hl7ParseError) and error.field is None:
        # No MSH first, or a line that is not a segment: the segments are not as expected.
        return Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR
    if isinstance(error, ParseError | ValidationError):
        return Hl7ErrorCode.DATA_TYPE_ERROR
    return Hl7ErrorCode.APPLICATION_INTERNAL_ERROR


def _location(error: CareDomainError, inbound: Message | None) -> tuple[str, ...]:
    """ERL (v2.5+) / the first ELD components: segment id, sequence, field, rep, component.

    The segment sequence is the occurrence of the segment id in the message (HL7 v2.5.1
    ERL-2: 1 for the first PID, 2 for the second). When the error names no segment id
    (a line that is not a segment), there is no location to give: ERL-1 is required.
    """
    if not isinstance(error, Hl7ParseError) or error.segment_id is None:
        return ()
    sequence = 1
    if inbound is not None and error.segment_index is not None:
        before = [s for s in inbound if s.index <= error.segment_index]
        sequence = max(1, sum(1 for s in before if s.id == error.segment_id))
    parts = [error.segment_id, str(sequence)]
    if error.field is not None:
        parts.append(str(error.field))
        if error.repetition is not None or error.component is not None:
            parts.append(str(error.repetition or 1))
            if error.component is not None:
                parts.append(str(error.component))
    return tuple(parts)
