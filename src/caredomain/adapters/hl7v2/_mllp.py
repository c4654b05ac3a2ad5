"""MLLP framing (HL7 Minimal Lower Layer Protocol), sans-IO: feed bytes, get messages."""

from __future__ import annotations

from typing import Final

__all__ = ["MllpFramer"]

START: Final = b"\x0b"
END: Final = b"\x1c\x0d"


class MllpFramer:
    """Splits a byte stream into MLLP-framed payloads; frames payloads for sending.

    Bytes outside a frame (noise between messages) are discarded, as MLLP receivers do.
    A frame larger than ``max_frame`` bytes raises `ValueError` instead of growing without
    bound.
    """

    def __init__(self, max_frame: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete payload, in order."""
        self._buffer.extend(data)
        out: list[bytes] = []
        while True:
            start = self._buffer.find(START)
            if start < 0:
                self._buffer.clear()
                return out
            end = self._buffer.find(END, start + 1)
            if end < 0:
                del self._buffer[:start]
                if len(self._buffer) > self._max:
                    self._buffer.clear()
                    raise ValueError("MLLP frame larger than the limit")
                return out
            out.append(bytes(self._buffer[start + 1 : end]))
            del self._buffer[: end + len(END)]

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """``payload`` wrapped in an MLLP frame."""
        return START + payload + END
