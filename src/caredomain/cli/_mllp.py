"""``caredomain mllp listen|send``: receive HL7 v2 messages over MLLP into a folder; send files.

``listen`` runs `caredomain.adapters.hl7v2.transport.serve` with the default
`store_and_ack` handler (fsync on): each message is stored durably under ``--out``, then
acknowledged, and one NDJSON line per message goes to stdout
(``{"file", "type", "control_id", "ack"}``; ``"error_code"`` too when the ACK carries an
ERR). It stops on SIGINT or SIGTERM, or after ``--max-messages``.

``send`` cuts each file into messages with `split_stream`, sends them in order on one
connection, and prints one NDJSON line per ACK (``{"file", "index", "ack",
"control_id"}``); a message without an ACK (timeout, connection lost) is reported on stderr
and the rest are still sent on a new connection. Exit 1 if any message was not accepted.

Exit codes: 0 on success; 1 when any message failed (``send``), or the port cannot be
listened on; 2 on usage errors (a bad option, an unreadable file or output folder).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from caredomain.adapters.hl7v2._message import Hl7ParseError, parse
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.transport import (
    AckTimeoutError,
    MessageStore,
    MllpConnectionError,
    MllpServer,
    Receipt,
    connect,
    serve,
    split_stream,
    store_and_ack,
)
from caredomain.cli._args import sender_timezone

__all__ = ["register"]

_LISTEN = "caredomain mllp listen"
_SEND = "caredomain mllp send"
_GRACE = 10.0  # seconds a connection may take to finish its current message on shutdown


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive whole number")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a port number, 0 to 65535") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("expected a port number, 0 to 65535")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("expected a positive number of seconds")
    return value


def _emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _listen(args: argparse.Namespace) -> int:
    try:
        store = MessageStore(args.out)
    except OSError as exc:
        print(f"{_LISTEN}: error: cannot use {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    return asyncio.run(_run_listener(args, store))


async def _run_listener(args: argparse.Namespace, store: MessageStore) -> int:
    stop = asyncio.Event()
    received = 0
    servers: list[MllpServer] = []

    def on_receipt(receipt: Receipt) -> None:
        nonlocal received
        line: dict[str, Any] = {
            "file": str(receipt.file),
            "type": receipt.message_type,
            "control_id": receipt.control_id,
            "ack": receipt.ack.value if receipt.ack is not None else None,
        }
        if receipt.error_code is not None:
            line["error_code"] = receipt.error_code.value
        with contextlib.suppress(BrokenPipeError):
            _emit(line)
        received += 1
        if args.max_messages is not None and received >= args.max_messages:
            # Close at once (this message's ACK is still written): a sender that pipelines
            # gets no further message stored on this connection, so N means N.
            for server in servers:
                server.close()
            stop.set()

    try:
        check = args.check or args.sender_tz is not None
        profile = SenderProfile(timezone=args.sender_tz) if check else None
        handler = store_and_ack(store, on_receipt=on_receipt, profile=profile)
        server = await serve(handler, args.host, args.port)
        servers.append(server)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f"{args.host}:{args.port}"
        print(f"{_LISTEN}: error: cannot listen on {where}: {reason}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        # Only the main thread may install signal handlers; elsewhere Ctrl-C still works.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(number, stop.set)
    print(
        f"{_LISTEN}: listening on {args.host}:{server.port}, storing into {store.directory}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed(timeout=_GRACE)
        for number in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(number)
    print(f"{_LISTEN}: stopped after {received} messages", file=sys.stderr)
    return 0


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def _send(args: argparse.Namespace) -> int:
    items: list[tuple[str, int, bytes]] = []
    for name in args.files:
        try:
            data = _read(name)
        except OSError as exc:
            print(f"{_SEND}: error: cannot read {name}: {exc.strerror}", file=sys.stderr)
            return 2
        # Latin-1 maps every byte to one character and back, so each message is sent with
        # exactly the bytes of the file, whatever its MSH-18 character set.
        for index, message in enumerate(split_stream([data]), start=1):
            items.append((name, index, message))
    if not items:
        print(f"{_SEND}: no messages found", file=sys.stderr)
        return 1
    return asyncio.run(_run_sender(args, items))


async def _run_sender(args: argparse.Namespace, items: list[tuple[str, int, bytes]]) -> int:
    failed = False
    pending = list(items)
    while pending:
        try:
            async with connect(args.host, args.port, timeout=args.timeout) as client:
                while pending:
                    name, index, payload = pending.pop(0)
                    try:
                        text = await client.send(payload)
                    except (AckTimeoutError, MllpConnectionError) as exc:
                        print(f"{_SEND}: {name} message {index}: {exc}", file=sys.stderr)
                        failed = True
                        break  # a new connection for the rest
                    if text is None:  # an ACK we sent: receivers do not answer those
                        _emit({"file": name, "index": index, "ack": None, "control_id": None})
                    elif not _report(name, index, text):
                        failed = True
        except MllpConnectionError as exc:
            for name, index, _payload in pending:
                print(f"{_SEND}: {name} message {index}: not sent: {exc}", file=sys.stderr)
            return 1
    return 1 if failed else 0


def _report(name: str, index: int, text: str) -> bool:
    """Print the NDJSON line of one ACK; True when it accepts the message (AA)."""
    try:
        ack = parse(text)
    except Hl7ParseError as exc:
        print(f"{_SEND}: {name} message {index}: unreadable ACK: {exc}", file=sys.stderr)
        return False
    code = ack["MSA-1"]
    line: dict[str, Any] = {
        "file": name,
        "index": index,
        "ack": code or None,
        "control_id": ack["MSA-2"] or None,
    }
    # Only the coded error is printed: a partner's ERR texts may quote the message.
    error_code = ack["ERR-3.1"] or ack["ERR-1.4.1"]
    if error_code:
        line["error_code"] = error_code
    _emit(line)
    return code == "AA"


def register(commands: Any) -> None:
    """Add the ``mllp`` subcommand (with ``listen`` and ``send``) to the CLI's subparsers."""
    parser = commands.add_parser(
        "mllp",
        help="receive and send HL7 v2 messages over MLLP",
        description="HL7 v2 over MLLP: a receiver that stores then acknowledges, and a sender.",
    )
    actions = parser.add_subparsers(dest="mllp_command", metavar="ACTION")

    listen = actions.add_parser(
        "listen",
        help="receive messages, store each durably under --out, then acknowledge it",
        description=(
            "Listen for HL7 v2 messages over MLLP. Each message is stored in --out (rejected "
            "ones in --out/rejected) before it is acknowledged; one NDJSON line per message "
            "on stdout. Stops on SIGINT/SIGTERM or after --max-messages."
        ),
    )
    listen.add_argument(
        "--port", type=_port, default=2575, metavar="PORT", help="port (default 2575; 0: any)"
    )
    listen.add_argument(
        "--host", default="127.0.0.1", metavar="HOST", help="address (default 127.0.0.1)"
    )
    listen.add_argument(
        "--out", required=True, metavar="DIR", help="folder to store messages in (created)"
    )
    listen.add_argument(
        "--max-messages",
        type=_positive,
        default=None,
        metavar="N",
        help="stop after N messages (default: run until stopped)",
    )
    listen.add_argument(
        "--check",
        action="store_true",
        help=(
            "also read each ADT, SIU, REF/RRI and ORU message into domain values and answer "
            "AE (stored under rejected/) when its content cannot be read"
        ),
    )
    listen.add_argument(
        "--sender-tz",
        type=sender_timezone,
        default=None,
        metavar="ZONE",
        help="IANA timezone for times the sender writes without a UTC offset (implies --check)",
    )
    listen.set_defaults(handler=_listen)

    send = actions.add_parser(
        "send",
        help="send the messages of files over MLLP, one NDJSON line per ACK",
        description=(
            "Send every message of each FILE (messages separated by blank lines or each "
            "starting with MSH; - for stdin) over one MLLP connection, in order. One NDJSON "
            "line per ACK on stdout; exit 1 if any message is not accepted (AA)."
        ),
    )
    send.add_argument("files", nargs="+", metavar="FILE", help="message files, or - for stdin")
    send.add_argument(
        "--host", default="127.0.0.1", metavar="HOST", help="receiver (default 127.0.0.1)"
    )
    send.add_argument(
        "--port", type=_port, default=2575, metavar="PORT", help="receiver's port (default 2575)"
    )
    send.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="wait this long for each ACK (default 30)",
    )
    send.set_defaults(handler=_send)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)
