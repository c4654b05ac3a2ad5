r"""HL7 v2 over MLLP with asyncio: a receiver that stores then acknowledges, and a sender.

MLLP Release 2 (HL7 Version 2 Transport Specification: MLLP) frames every message as
``<VT> payload <FS><CR>``; the framing itself is the sans-IO `MllpFramer`, and this module
is the thin asyncio layer on top (no third-party networking).

* `MessageStore` keeps every received payload durably, one file per message, in arrival
  order; payloads that are not accepted go to ``rejected/`` so that nothing is lost.
* `store_and_ack` is the default receiving handler: parse, store, then acknowledge.
* `MllpServer` (started by `serve`) runs a handler for every framed payload of every
  connection and writes back the framed ACK; `MllpClient` (from `connect`) sends a message
  and waits for its ACK.
* `split_messages` cuts a file of messages (blank-line separated, or each starting with
  MSH, or an HL7 batch) into messages.

Rules of this module:

1. Store before acknowledging, always (HL7 v2.5.1 section 2.9.2, original mode: the
   receiver commits the message before it sends AA). A message is stored completely or not
   at all: written to a temporary file, flushed and ``fsync``-ed, renamed into place, and
   the directory ``fsync``-ed. A partial frame is never stored.
2. A bad frame or a bad message never drops the connection, and one connection's failure
   never stops the server.
3. Log lines name files, codes and positions, never message content.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Final, Protocol

import attrs

from caredomain.adapters.hl7v2._message import Hl7ParseError, Message, parse
from caredomain.adapters.hl7v2._mllp import MllpFrameError, MllpFramer
from caredomain.adapters.hl7v2.ack import AckCode, Hl7ErrorCode, build_ack, error_code_for
from caredomain.adapters.hl7v2.inbound import READERS, read
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.core.errors import CareDomainError
from caredomain.core.identity import IdSource
from caredomain.core.time import Clock, SystemClock

__all__ = [
    "DEFAULT_MAX_FRAME",
    "SUPPORTED_MESSAGE_TYPES",
    "AckTimeoutError",
    "Handler",
    "MessageStore",
    "MllpClient",
    "MllpConnectionError",
    "MllpServer",
    "Receipt",
    "connect",
    "serve",
    "split_messages",
    "split_stream",
    "store_and_ack",
]

_log = logging.getLogger(__name__)

DEFAULT_MAX_FRAME: Final = 16 * 1024 * 1024
"""The largest payload a server or client accepts, in bytes (16 MiB)."""

SUPPORTED_MESSAGE_TYPES: Final = frozenset({"ACK", "ADT", "ORU", "REF", "RRI", "SIU"})
"""The message types (MSH-9.1, HL7 v2.5.1 table 0076) caredomain reads; `store_and_ack`
rejects the others with error 200."""

_READ_SIZE: Final = 64 * 1024
_NAME: Final = re.compile(r"^(\d{9,})-\d{8}T\d{6}Z-[0-9a-f]{6}\.hl7$")
_V2_VERSION: Final = re.compile(r"^2\.[1-9](?:\.\d+)*$")


class Handler(Protocol):
    """What a server runs for every payload: an async callable returning the ACK.

    It gets the payload's bytes and returns the ACK (text is sent UTF-8 encoded). It should
    store the payload before it returns.
    """

    def __call__(self, payload: bytes, /) -> Awaitable[bytes | str | None]:
        """Handle one payload; return its ACK, or None to send nothing (an inbound ACK)."""
        ...


class AckTimeoutError(CareDomainError, TimeoutError):
    """No ACK arrived within the timeout.

    The connection is closed: a late ACK could otherwise be taken for the next message's.
    Whether the message was stored is unknown; send it again on a new connection (a
    receiver keyed on MSH-10 can recognize the duplicate).

    Attributes:
        timeout: The seconds waited.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"no MLLP acknowledgment within {timeout:g} s; connection closed")


class MllpConnectionError(CareDomainError, ConnectionError):
    """The MLLP connection could not be opened, or was closed or broken before an ACK."""


def split_messages(text: str) -> list[str]:
    r"""Cut text holding one or more HL7 v2 messages into messages (see `split_stream`).

    Each message comes back with its segments terminated by ``\r``, as MLLP carries them.
    To keep a file's bytes exactly (a Latin-1 file declared in MSH-18), use `split_stream`
    on the bytes instead.
    """
    return [m.decode("utf-8") for m in split_stream([text.encode("utf-8")])]


_LINE_END: Final = re.compile(rb"\r\n|\r|\n")
_BATCH: Final = (b"FHS", b"BHS", b"BTS", b"FTS")  # HL7 v2.5.1 2.10.3 batch envelopes
_FRAME: Final = b"\x0b\x1c"


def split_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    r"""Cut a byte stream of HL7 v2 messages into messages, holding one message at a time.

    Bytes may come in chunks of any size. A message starts at a line beginning with ``MSH``
    or after blank lines; CR, LF or CRLF end segments (a CRLF split between two chunks is one
    line end); ``FHS``/``BHS``/``BTS``/``FTS`` batch envelopes (HL7 v2.5.1 section 2.10.3)
    are dropped; a leading byte-order mark and MLLP framing bytes are ignored. Lines before
    the first MSH form a message of their own, which a receiver will reject (they are not
    silently dropped). Each message comes back with ``\r`` after each segment, as bytes, so
    that `parse` still decodes it by its MSH-18.
    """
    current: list[bytes] = []
    pending = b""
    first = True

    def take(line: bytes) -> bytes | None:
        segment = line.strip(_FRAME).rstrip()
        if not segment.strip() or segment.startswith(_BATCH):
            return finish()
        message = finish() if segment.startswith(b"MSH") else None
        current.append(segment)
        return message

    def finish() -> bytes | None:
        if not current:
            return None
        message = b"\r".join(current) + b"\r"
        current.clear()
        return message

    for chunk in chunks:
        if not chunk:
            continue
        if first:
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
            first = False
        pending += chunk
        # Complete lines only: up to the last line end, but not a final CR whose LF may be
        # in the next chunk.
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r", 0, len(pending) - 1))
        if cut < 0:
            continue
        lines = _LINE_END.split(pending[: cut + 1])
        pending = pending[cut + 1 :]
        for line in lines[:-1]:  # the last is the empty rest after the final line end
            message = take(line)
            if message is not None:
                yield message
    for line in _LINE_END.split(pending):
        message = take(line)
        if message is not None:
            yield message
    message = finish()
    if message is not None:
        yield message


class MessageStore:
    """Durable storage for received payloads: one file per message, in arrival order.

    Files are named ``<sequence>-<UTC time>-<random>.hl7``
    (``000000123-20261125T135000Z-ab12cd.hl7``): the 9-digit sequence sorts them in arrival
    order and continues across restarts, the random part keeps names unique. Accepted
    payloads go in `directory`, rejected ones in `rejected_directory` (``rejected/``); the
    sequence is shared, so the two together give the full arrival order. Files are created
    readable by their owner only.

    With ``fsync`` (the default), a payload is on disk before `save` returns: written to a
    hidden temporary file, flushed and fsync-ed, renamed into place (``os.replace``), and
    the directory fsync-ed so that the rename survives a crash. Without it, the rename still
    keeps a file from appearing half-written, but a power failure may lose the last files.
    `save` is synchronous and thread-safe; `store_and_ack` runs it in a worker thread when
    it fsyncs, so that the disk's latency does not stall other connections.

    One store per directory: temporary files left by a crash are removed when a store opens.

    Attributes:
        directory: Where accepted payloads are stored.
        rejected_directory: Where rejected payloads are stored (``directory / "rejected"``).
        fsync: Whether `save` waits for the disk.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, fsync: bool = True, clock: Clock | None = None
    ) -> None:
        self.directory = Path(directory)
        self.rejected_directory = self.directory / "rejected"
        self.fsync = fsync
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        last = 0
        for folder in (self.directory, self.rejected_directory):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            for entry in folder.iterdir():
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    entry.unlink(missing_ok=True)  # never renamed: never acknowledged
                elif match := _NAME.match(entry.name):
                    last = max(last, int(match[1]))
        self._next = last + 1

    def save(self, payload: bytes, *, rejected: bool = False) -> Path:
        """Store ``payload`` completely (or not at all) and return its file's path.

        Raises:
            OSError: The file could not be written; nothing is left behind.
        """
        with self._lock:
            sequence = self._next
            self._next += 1
        stamp = self._clock.now().in_tz("UTC").strftime("%Y%m%dT%H%M%SZ")
        name = f"{sequence:09d}-{stamp}-{uuid.uuid4().hex[:6]}.hl7"
        folder = self.rejected_directory if rejected else self.directory
        temporary = folder / f".{name}.tmp"
        final = folder / name
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(descriptor, view) :]
                if self.fsync:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        if self.fsync:
            _fsync_directory(folder)
        return final

    def paths(self, *, rejected: bool = False) -> list[Path]:
        """The stored files, in arrival order (accepted ones, or with ``rejected`` those)."""
        folder = self.rejected_directory if rejected else self.directory
        return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def _fsync_directory(folder: Path) -> None:
    # POSIX: a rename is durable once the directory itself is fsync-ed.
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@attrs.frozen
class Receipt:
    """What `store_and_ack` did with one received payload.

    Attributes:
        file: Where the payload was stored (under ``rejected/`` unless acknowledged AA).
        ack: The acknowledgment code sent back; None for an inbound ACK, which is stored and
            never answered (acknowledging acknowledgments would loop between two receivers).
        message_type: MSH-9 as ``TYPE^TRIGGER`` (``"ADT^A01"``); ``None`` if unparseable.
        control_id: The inbound MSH-10; ``None`` if unparseable.
        error_code: The table-0357 code of the ACK's ERR segment, if any.
    """

    file: Path
    ack: AckCode | None
    message_type: str | None = None
    control_id: str | None = None
    error_code: Hl7ErrorCode | None = None


class _ShortIds:
    """ACK control ids of 20 characters: MSH-10 is ST(20) in HL7 v2.5.1 (199 from v2.7)."""

    def new_id(self) -> str:
        return uuid.uuid4().hex[:20]


def _check(message: Message) -> tuple[Hl7ParseError, Hl7ErrorCode] | None:
    """Why a parsed message is not acceptable (HL7 v2.5.1 section 2.9.2.1), if it is not."""
    if message["MSH-9.1"] not in SUPPORTED_MESSAGE_TYPES:
        expected = "a message type caredomain reads: " + ", ".join(sorted(SUPPORTED_MESSAGE_TYPES))
        error = Hl7ParseError(expected, segment_index=1, segment_id="MSH", field=9, component=1)
        return error, Hl7ErrorCode.UNSUPPORTED_MESSAGE_TYPE
    version = message.version
    if not version:
        error = Hl7ParseError("a version id (MSH-12)", segment_index=1, segment_id="MSH", field=12)
        return error, Hl7ErrorCode.REQUIRED_FIELD_MISSING
    if not _V2_VERSION.match(version):
        error = Hl7ParseError(
            "an HL7 v2 version id such as 2.5.1", segment_index=1, segment_id="MSH", field=12
        )
        return error, Hl7ErrorCode.UNSUPPORTED_VERSION_ID
    return None


def _content_error(
    message: Message, profile: SenderProfile
) -> tuple[CareDomainError, Hl7ErrorCode | None, AckCode] | None:
    """Why a message of a mapped type cannot be read into domain values, if it cannot.

    A field that cannot be read is AE at that field (HL7 v2.5.1 section 2.9.2.2: an error in
    the content of an accepted message); values the domain model refuses are AE with 207; a
    reader that fails for another reason is AR with 207, as any failing handler is.
    """
    if message["MSH-9.1"] not in READERS:
        return None  # an ACK: accepted as is
    try:
        read(message, profile=profile)
    except Hl7ParseError as exc:
        return exc, None, AckCode.AE
    except CareDomainError:  # a value the domain refuses (a discharge before admission)
        refused = CareDomainError("values caredomain's model refuses; the message is stored")
        return refused, Hl7ErrorCode.APPLICATION_INTERNAL_ERROR, AckCode.AE
    except Exception as exc:  # a reader's own failure: the message is stored all the same
        _log.error("reading a stored message failed: %s", type(exc).__name__)
        failed = CareDomainError("the receiver could not read the message; it is stored")
        return failed, Hl7ErrorCode.APPLICATION_INTERNAL_ERROR, AckCode.AR
    return None


def _notify(on_receipt: Callable[[Receipt], None] | None, receipt: Receipt) -> None:
    # The payload is stored: a failing callback must not turn its ACK into an AR 207, which
    # would make the sender send a stored message again.
    if on_receipt is None:
        return
    try:
        on_receipt(receipt)
    except Exception as exc:
        _log.error("on_receipt failed for %s: %s", receipt.file.name, type(exc).__name__)


async def _save(store: MessageStore, payload: bytes, *, rejected: bool) -> Path:
    if store.fsync:
        return await asyncio.to_thread(store.save, payload, rejected=rejected)
    return store.save(payload, rejected=rejected)  # a page-cache write: fast enough inline


def store_and_ack(
    store: MessageStore,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    *,
    on_receipt: Callable[[Receipt], None] | None = None,
    sending_application: str = "CAREDOMAIN",
    sending_facility: str = "",
    profile: SenderProfile | None = None,
) -> Handler:
    """The default receiving handler: parse, store, then acknowledge.

    * A payload that parses, of a supported type (`SUPPORTED_MESSAGE_TYPES`) and an HL7 v2
      version: stored in the store's directory, then AA.
    * A payload that does not parse: stored under ``rejected/``, then AR with an ERR built
      from the parse error's positions.
    * A message of another type, or without a v2 version: stored under ``rejected/``, then
      AR with error 200, 101 or 203 (HL7 v2.5.1 section 2.9.2.1: a receiver rejects a
      message type or version it does not accept with AR).

    * With a ``profile``, an acceptable ADT, SIU, REF/RRI or ORU message is also read into
      domain values (`caredomain.adapters.hl7v2.inbound.read`, with the sender's timezone
      and systems); if its content cannot be read (a bad date, a missing identifier), it
      is stored under ``rejected/`` and answered AE with an ERR at the field that failed
      (HL7 v2.5.1 section 2.9.2.2: AE is an error in the content of an accepted message).

    Storing always happens before the ACK; if storing fails, the server answers AR with
    error 207 and the sender will send again.

    Args:
        store: Where payloads go.
        clock: For ACK timestamps (MSH-7); the system clock (UTC) by default.
        ids: For ACK control ids (MSH-10); random 20-character ids by default.
        on_receipt: Called with a `Receipt` after each payload is stored, before its ACK is
            sent (the CLI prints a line from it).
        sending_application: ACK MSH-3 when the inbound has no MSH-5.
        sending_facility: ACK MSH-4 when the inbound has no MSH-6.
        profile: The sender's profile; when given, content is checked as described above.
    """
    the_clock: Clock = clock or SystemClock()
    the_ids: IdSource = ids or _ShortIds()

    async def handle(payload: bytes) -> bytes | None:
        message: Message | None
        error: CareDomainError | None
        error_code: Hl7ErrorCode | None = None
        try:
            message = parse(payload)
        except Hl7ParseError as exc:
            message, error = None, exc
        else:
            problem = _check(message)
            error, error_code = problem if problem else (None, None)
        code = AckCode.AA if error is None else AckCode.AR
        if error is None and message is not None and message["MSH-9.1"] == "ACK":
            # An acknowledgment (a partner answering what we sent): stored, not answered.
            path = await _save(store, payload, rejected=False)
            _notify(on_receipt, Receipt(path, None, message.type, message.control_id))
            return None
        if error is None and message is not None and profile is not None:
            content = _content_error(message, profile)
            if content is not None:
                error, error_code, code = content
        path = await _save(store, payload, rejected=code is not AckCode.AA)
        ack = build_ack(
            message,
            code,
            error=error,
            error_code=error_code,
            now=the_clock.now(),
            control_id=the_ids.new_id(),
            sending_application=sending_application,
            sending_facility=sending_facility,
        )
        if error is not None:
            _log.info("rejected %s: %s", path.name, error)
        receipt = Receipt(
            file=path,
            ack=code,
            message_type=message.type if message is not None else None,
            control_id=message.control_id if message is not None else None,
            error_code=(error_code or error_code_for(error)) if error is not None else None,
        )
        _notify(on_receipt, receipt)
        return ack.encode("utf-8")

    return handle


class _Connection:
    __slots__ = ("busy", "writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.busy = False


class MllpServer:
    """An asyncio MLLP receiver: runs ``handler`` for each payload and sends back its ACK.

    Per connection, payloads are handled one at a time in arrival order, and each ACK is
    written before the next payload is handled (merged or split frames are fine). A payload
    larger than ``max_frame`` is answered AR and skipped; a handler that raises gets the
    sender an AR with error 207; neither closes the connection. A client that disconnects
    mid-frame leaves nothing behind: the partial frame never reaches the handler.

    Use `serve` to create and start one; ``async with`` closes it::

        async with await serve(store_and_ack(MessageStore("in")), "127.0.0.1", 2575) as s:
            await s.serve_forever()

    Attributes:
        handler: What runs for each payload.
        max_frame: The largest payload accepted, in bytes.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        clock: Clock | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self.handler = handler
        self.max_frame = max_frame
        self._clock: Clock = clock or SystemClock()
        self._ids: IdSource = ids or _ShortIds()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], _Connection] = {}
        self._closing = False
        self._closed = asyncio.Event()

    async def start(self, host: str = "127.0.0.1", port: int = 2575) -> None:
        """Listen on ``host:port`` (port 0: any free port; see `port`)."""
        self._server = await asyncio.start_server(self._serve_connection, host, port)

    @property
    def port(self) -> int:
        """The port listened on (useful after starting on port 0)."""
        if self._server is None or not self._server.sockets:
            raise MllpConnectionError("the server is not listening")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def serve_forever(self) -> None:
        """Wait until `close` is called (connections are served in the background)."""
        await self._closed.wait()

    def close(self) -> None:
        """Stop accepting connections and close them once their current ACK is written.

        Payloads received but not yet handled are not stored and not acknowledged; their
        sender will send them again.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for connection in self._connections.values():
            if not connection.busy:
                connection.writer.close()
        self._closed.set()

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the server and every connection are closed.

        Args:
            timeout: Seconds to let connections finish the payload they are handling;
                after that they are cancelled (their payload is not acknowledged, so its
                sender sends it again). ``None`` waits as long as they take.
        """
        # Connections first: from Python 3.12, asyncio's Server.wait_closed also waits for
        # every connection (CPython gh-79033), so awaiting it first would ignore ``timeout``.
        tasks = list(self._connections)
        if tasks:
            _done, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> MllpServer:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()
        await self.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None  # a stream callback always runs in a task
        connection = _Connection(writer)
        self._connections[task] = connection
        framer = MllpFramer(self.max_frame)
        peer = writer.get_extra_info("peername")
        _log.debug("connection from %s", peer)
        try:
            while not self._closing:
                data = await reader.read(_READ_SIZE)
                if not data:
                    if framer.pending:
                        _log.info("%s disconnected mid-frame; partial frame discarded", peer)
                    break
                connection.busy = True
                oversized: MllpFrameError | None = None
                try:
                    payloads = framer.feed(data)
                except MllpFrameError as exc:
                    payloads, oversized = list(exc.payloads), exc
                for payload in payloads:
                    if self._is_closing():  # close() may run while a payload is handled
                        break
                    reply = await self._reply(payload)
                    if reply is not None:  # None: an inbound ACK, never answered
                        await self._answer(writer, reply)
                if oversized is not None and not self._is_closing():
                    _log.warning("frame from %s over %d bytes: skipped", peer, self.max_frame)
                    await self._answer(writer, self._fallback(None, oversized))
                connection.busy = False
        except (ConnectionError, OSError) as exc:
            _log.info("connection from %s lost: %s", peer, type(exc).__name__)
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            _log.debug("connection from %s closed", peer)

    def _is_closing(self) -> bool:
        return self._closing

    async def _reply(self, payload: bytes) -> bytes | None:
        try:
            reply = await self.handler(payload)
        except Exception as exc:  # the sender gets AR/207; the server keeps serving
            _log.error("handler failed on a payload: %s", type(exc).__name__)
            try:
                message: Message | None = parse(payload)
            except Hl7ParseError:
                message = None
            internal = CareDomainError("the receiver could not store the message; send it again")
            return self._fallback(message, internal)
        return reply.encode("utf-8") if isinstance(reply, str) else reply

    def _fallback(self, message: Message | None, error: CareDomainError) -> bytes:
        internal = Hl7ErrorCode.APPLICATION_INTERNAL_ERROR
        code = None if isinstance(error, MllpFrameError) else internal
        ack = build_ack(
            message,
            AckCode.AR,
            error=error,
            error_code=code,
            now=self._clock.now(),
            control_id=self._ids.new_id(),
        )
        return ack.encode("utf-8")

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, ack: bytes) -> None:
        writer.write(MllpFramer.frame(ack))
        await writer.drain()


async def serve(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 2575,
    *,
    max_frame: int = DEFAULT_MAX_FRAME,
    clock: Clock | None = None,
    ids: IdSource | None = None,
) -> MllpServer:
    """Create an `MllpServer` for ``handler`` and start listening on ``host:port``.

    Args:
        handler: Runs for each payload and returns its ACK; `store_and_ack` by choice.
        host: The address to listen on (``127.0.0.1``: this machine only).
        port: The port; 2575 is the one IANA registered for HL7 over MLLP; 0 picks a free
            one (read it from `MllpServer.port`).
        max_frame: The largest payload accepted, in bytes.
        clock: For the timestamps of the server's own ACKs (oversized frame, handler
            failure).
        ids: For the control ids of the server's own ACKs.

    Raises:
        OSError: The address cannot be listened on (in use, not permitted).
    """
    server = MllpServer(handler, max_frame=max_frame, clock=clock, ids=ids)
    await server.start(host, port)
    return server


class MllpClient:
    """An MLLP sender on one open connection: `send` a message, get its ACK text.

    Make one with `connect`. Sends are sequential: each waits for its ACK.

    Attributes:
        timeout: Default seconds `send` waits for an ACK (``None``: forever).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        timeout: float | None = 30.0,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._framer = MllpFramer(max_frame)
        self._pending: deque[bytes] = deque()
        self._broken = False

    async def send(self, message: bytes | str, *, timeout: float | None = None) -> str | None:
        """Send one message (text is UTF-8 encoded, sent as given) and return its ACK.

        An ACK sent (answering the partner) gets no answer: None is returned at once.

        Args:
            message: The message, segments terminated by CR as MLLP expects.
            timeout: Seconds to wait for the ACK; `timeout` by default.

        Raises:
            AckTimeoutError: No ACK in time; the connection is closed.
            MllpConnectionError: The connection is closed or broke before the ACK, or the
                reply acknowledges another message (MSA-2 is not this message's MSH-10).
        """
        if self._broken:
            raise MllpConnectionError("the connection is closed (a send failed or timed out)")
        data = message.encode("utf-8") if isinstance(message, str) else message
        try:
            sent: Message | None = parse(data)
        except Hl7ParseError:
            sent = None  # sent as given: the receiver will say what it makes of it
        wait = self.timeout if timeout is None else timeout
        answered_by_none = sent is not None and sent["MSH-9.1"] == "ACK"
        try:
            async with asyncio.timeout(wait):
                self._writer.write(MllpFramer.frame(data))
                await self._writer.drain()
                if answered_by_none:  # an ACK sent: receivers do not answer those
                    return None
                while not self._pending:
                    chunk = await self._reader.read(_READ_SIZE)
                    if not chunk:
                        raise MllpConnectionError("the receiver closed the connection early")
                    self._pending.extend(self._framer.feed(chunk))
        except TimeoutError:
            await self._abort()
            raise AckTimeoutError(wait or 0.0) from None
        except MllpConnectionError:
            await self._abort()
            raise
        except (MllpFrameError, OSError) as exc:
            await self._abort()
            raise MllpConnectionError(f"the connection broke before an ACK: {exc}") from exc
        reply = _decode(self._pending.popleft())
        if sent is not None and sent.control_id:
            try:
                answered = parse(reply)["MSA-2"]
            except Hl7ParseError:
                answered = None
            if answered and answered != sent.control_id:  # an empty MSA-2: unreadable to it
                await self._abort()
                raise MllpConnectionError(
                    "the reply acknowledges another message (MSA-2 is not the MSH-10 sent)"
                )
        return reply

    async def close(self) -> None:
        """Close the connection."""
        self._broken = True
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def _abort(self) -> None:
        await self.close()

    async def __aenter__(self) -> MllpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


def _decode(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


@contextlib.asynccontextmanager
async def connect(
    host: str,
    port: int,
    *,
    timeout: float | None = 30.0,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> AsyncIterator[MllpClient]:
    """Open an MLLP connection to a receiver, as an async context manager.

    ``async with connect(host, port) as client: ack = await client.send(message)``.

    Args:
        host: The receiver's address.
        port: The receiver's port.
        timeout: Seconds to wait for the connection, and the client's default ACK timeout.
        max_frame: The largest ACK accepted, in bytes.

    Raises:
        MllpConnectionError: The connection could not be opened (refused, timed out).
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise MllpConnectionError(f"cannot connect to {host}:{port}: timed out") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MllpConnectionError(f"cannot connect to {host}:{port}: {reason}") from None
    client = MllpClient(reader, writer, timeout=timeout, max_frame=max_frame)
    try:
        yield client
    finally:
        await client.close()
