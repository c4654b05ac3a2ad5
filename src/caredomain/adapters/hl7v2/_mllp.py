"""MLLP framing (HL7 Minimal Lower Layer Protocol), sans-IO: feed bytes, get messages.

MLLP Release 2 (HL7 Version 2 Transport Specification: MLLP, section 1.3 "Block format"):
each message travels as ``<VT> payload <FS><CR>``, that is ``0x0B``, the payload, then
``0x1C 0x0D``. This module holds no I/O; `caredomain.adapters.hl7v2.transport` is the
asyncio layer on top.
"""

from __future__ import annotations

from typing import Final

from caredomain.core.errors import ParseError

__all__ = ["MllpFrameError", "MllpFramer"]

START: Final = b"\x0b"
END: Final = b"\x1c\x0d"


class MllpFrameError(ParseError):
    """An MLLP frame grew larger than the receiver's limit before it ended.

    The oversized frame is discarded (its remaining bytes are skipped as noise until the
    next start byte); frames completed before it in the same ``feed`` are not lost.

    Attributes:
        limit: The largest payload accepted, in bytes.
        payloads: The complete payloads found before the oversized frame, in order; the
            caller handles them as if ``feed`` had returned them.
    """

    def __init__(self, limit: int, payloads: tuple[bytes, ...] = ()) -> None:
        self.limit = limit
        self.payloads = payloads
        super().__init__("MLLP frame", f"a frame no larger than the limit of {limit} bytes")


class MllpFramer:
    """Splits a byte stream into MLLP-framed payloads; frames payloads for sending.

    Bytes outside a frame (noise between messages) are discarded, as MLLP receivers do.
    A frame larger than ``max_frame`` bytes raises `MllpFrameError` (a `ParseError`, so
    also a ``ValueError``) instead of growing without bound.
    """

    def __init__(self, max_frame: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._max = max_frame
        self._scanned = 0  # bytes of the buffered frame already searched for END

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished frame are buffered (0 between frames)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete payload, in order.

        Raises:
            MllpFrameError: The frame being received outgrew ``max_frame``; the payloads
                completed before it are on the error's ``payloads``.
        """
        self._buffer.extend(data)
        out: list[bytes] = []
        while True:
            start = self._buffer.find(START)
            if start < 0:
                self._buffer.clear()
                self._scanned = 0
                return out
            # Search only the new bytes (and the last old one, END being two bytes long), so
            # a large frame arriving in small reads costs linear time, not quadratic.
            end = self._buffer.find(END, max(start + 1, self._scanned - 1))
            if end < 0:
                del self._buffer[:start]
                self._scanned = len(self._buffer)
                if len(self._buffer) > self._max:
                    self._buffer.clear()
                    self._scanned = 0
                    raise MllpFrameError(self._max, tuple(out))
                return out
            out.append(bytes(self._buffer[start + 1 : end]))
            del self._buffer[: end + len(END)]
            self._scanned = 0

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """``payload`` wrapped in an MLLP frame."""
        return START + payload + END
