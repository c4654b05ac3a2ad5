"""HL7 v2: a fast, lenient tokenizer for ER7 messages, and MLLP framing.

Built so far: `parse` (lazy tokenizing, escape sequences, custom encoding characters,
repetitions, Z-segments, CR/LF/CRLF, MLLP frames, BOM), `Message` path access
(``msg["PID-3[2].1"]``), `Hl7ParseError` with positions and never content, and the sans-IO
`MllpFramer`. Typed datatype conversions, hl7apy-backed strict validation and the mappings
to domain values follow.
"""

from caredomain.adapters.hl7v2._message import (
    Delimiters,
    Hl7ParseError,
    Message,
    Segment,
    escape,
    parse,
)
from caredomain.adapters.hl7v2._mllp import MllpFrameError, MllpFramer

__all__ = [
    "Delimiters",
    "Hl7ParseError",
    "Message",
    "MllpFrameError",
    "MllpFramer",
    "Segment",
    "escape",
    "parse",
]
