import asyncio
import logging
import os
import stat
import time

import pendulum
import pytest

from caredomain.adapters.hl7v2 import MllpFramer, SenderProfile, parse
from caredomain.adapters.hl7v2._mllp import MllpFrameError
from caredomain.adapters.hl7v2.ack import AckCode, Hl7ErrorCode
from caredomain.adapters.hl7v2.transport import (
    AckTimeoutError,
    MessageStore,
    MllpConnectionError,
    Receipt,
    connect,
    serve,
    split_messages,
    store_and_ack,
)
from caredomain.core.errors import CareDomainError, ParseError
from caredomain.core.identity import SequentialIds
from caredomain.core.time import FixedClock
from tests import phi

CLOCK = FixedClock(pendulum.datetime(2026, 11, 25, 13, 50, tz="UTC"))


def _message(n, kind="ADT^A01^ADT_A01"):
    return (
        f"MSH|^~\\&|SENDER|FAC|CAREDOMAIN|CD|20261125135000+0000||{kind}|CTRL{n:06d}|P|2.5.1\r"
        f"PID|1||{n}^^^FAC^MR\r"
    ).encode()


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _read_acks(reader, framer, count):
    acks = []
    while len(acks) < count:
        data = await reader.read(65536)
        assert data, "the server closed the connection"
        acks.extend(p.decode() for p in framer.feed(data))
    return acks


def _server(store, **kwargs):
    return serve(store_and_ack(store, CLOCK, SequentialIds("ack")), "127.0.0.1", 0, **kwargs)


def test_ten_thousand_messages_on_one_connection(tmp_path):
    # fsync off here (see test_fsync_is_the_default_and_leaves_no_temporary_files);
    # the throughput with and without fsync is in the MLLP report.
    count = 10_000
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    sent = [_message(n) for n in range(count)]

    async def scenario():
        async with await _server(store) as server, connect("127.0.0.1", server.port) as client:
            return [await client.send(m) for m in sent]

    started = time.perf_counter()
    acks = _run(scenario())
    elapsed = time.perf_counter() - started
    assert elapsed < 30
    parsed = [parse(a) for a in acks]
    assert [a["MSA-1"] for a in parsed] == ["AA"] * count
    assert [a["MSA-2"] for a in parsed] == [f"CTRL{n:06d}" for n in range(count)]
    paths = store.paths()
    assert len(paths) == count
    stored = [p.read_bytes() for p in paths]
    assert stored == sent  # in order, each exactly once
    assert len(set(stored)) == count
    assert len({p.name for p in paths}) == count
    assert store.paths(rejected=True) == []
    assert len({a.control_id for a in parsed}) == count  # every ACK has its own MSH-10


def test_fsync_is_the_default_and_leaves_no_temporary_files(tmp_path):
    store = MessageStore(tmp_path, clock=CLOCK)
    assert store.fsync
    sent = [_message(n) for n in range(200)]

    async def scenario():
        async with await _server(store) as server, connect("127.0.0.1", server.port) as client:
            return [await client.send(m) for m in sent]

    acks = _run(scenario())
    assert all(parse(a)["MSA-1"] == "AA" for a in acks)
    assert [p.read_bytes() for p in store.paths()] == sent
    assert sorted(os.listdir(tmp_path)) == sorted([*(p.name for p in store.paths()), "rejected"])
    mode = stat.S_IMODE(store.paths()[0].stat().st_mode)
    assert mode == 0o600  # messages hold patient data: owner only


def test_store_names_sort_and_continue_across_restarts(tmp_path):
    first = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    a = first.save(b"one")
    b = first.save(b"two", rejected=True)
    assert a.name.startswith("000000001-20261125T135000Z-")
    assert a.name.endswith(".hl7")
    assert b.parent.name == "rejected"
    (tmp_path / ".000000009-20261125T135000Z-abcdef.hl7.tmp").write_bytes(b"half")
    second = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    c = second.save(b"three")
    assert c.name.startswith("000000003-")
    assert [p.read_bytes() for p in second.paths()] == [b"one", b"three"]
    assert [p.read_bytes() for p in second.paths(rejected=True)] == [b"two"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_disconnect_mid_frame_stores_nothing_and_the_server_keeps_serving(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)

    async def scenario():
        async with await _server(store) as server:
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            frame = MllpFramer.frame(_message(1))
            writer.write(frame[: len(frame) // 2])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.05)
            async with connect("127.0.0.1", server.port) as client:
                return await client.send(_message(2))

    ack = parse(_run(scenario()))
    assert ack["MSA-1"] == "AA"
    assert ack["MSA-2"] == "CTRL000002"
    assert [p.read_bytes() for p in store.paths()] == [_message(2)]
    assert store.paths(rejected=True) == []


def test_bad_input_gets_ar_and_the_connection_stays_open(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    garbage = b"\x00\xffnot hl7 at all"
    no_msh = b"PID|1||123^^^FAC^MR\rPV1|1|I\r"
    bad_segment = _message(3) + b"pid|1\r"

    async def scenario():
        async with await _server(store) as server, connect("127.0.0.1", server.port) as client:
            return [
                await client.send(garbage),
                await client.send(no_msh),
                await client.send(bad_segment),
                await client.send(_message(4)),
            ]

    acks = [parse(a) for a in _run(scenario())]
    for ack in acks[:3]:
        assert ack["MSA-1"] == "AR"
        assert ack["ERR-3.3"] == "HL70357"
        assert ack["ERR-4"] == "E"
        assert ack["ERR-8"].startswith("cannot parse at segment")
    assert acks[0]["ERR-3.1"] == acks[1]["ERR-3.1"] == "100"
    assert acks[0]["MSA-2"] == ""
    assert acks[2]["ERR-8"].startswith("cannot parse at segment 3")
    assert acks[3]["MSA-1"] == "AA"
    assert acks[3]["MSA-2"] == "CTRL000004"
    assert [p.read_bytes() for p in store.paths(rejected=True)] == [garbage, no_msh, bad_segment]
    assert [p.read_bytes() for p in store.paths()] == [_message(4)]
    # One sequence across both folders: the arrival order is kept.
    names = sorted(p.name for p in store.paths() + store.paths(rejected=True))
    assert names[-1] == store.paths()[0].name


@pytest.mark.parametrize(
    ("kind", "version", "code"),
    [
        ("ORM^O01^ORM_O01", "2.5.1", Hl7ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
        ("ADT^A01^ADT_A01", "3.0", Hl7ErrorCode.UNSUPPORTED_VERSION_ID),
        ("ADT^A01^ADT_A01", "", Hl7ErrorCode.REQUIRED_FIELD_MISSING),
    ],
)
def test_unsupported_messages_are_stored_then_rejected(tmp_path, kind, version, code):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    message = _message(7, kind).replace(b"|2.5.1\r", f"|{version}\r".encode())
    receipts = []

    async def scenario():
        handler = store_and_ack(store, CLOCK, on_receipt=receipts.append)
        async with (
            await serve(handler, "127.0.0.1", 0) as server,
            connect("127.0.0.1", server.port) as client,
        ):
            return await client.send(message)

    ack = parse(_run(scenario()))
    assert ack["MSA-1"] == "AR"
    assert ack["MSA-2"] == "CTRL000007"
    assert ack["ERR-3.1"] == code.value
    assert ack["ERR-2.1"] == "MSH"
    assert [p.read_bytes() for p in store.paths(rejected=True)] == [message]
    assert receipts == [
        Receipt(
            file=store.paths(rejected=True)[0],
            ack=AckCode.AR,
            message_type=kind.rsplit("^", 1)[0],
            control_id="CTRL000007",
            error_code=code,
        )
    ]


def test_frames_split_one_byte_at_a_time(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    sent = [_message(n) for n in range(3)]
    stream = b"noise" + b"".join(MllpFramer.frame(m) for m in sent)

    async def scenario():
        async with await _server(store) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            for i in range(len(stream)):
                writer.write(stream[i : i + 1])
                await writer.drain()
            acks = await _read_acks(reader, MllpFramer(), len(sent))
            writer.close()
            await writer.wait_closed()
            return acks

    acks = [parse(a) for a in _run(scenario())]
    assert [a["MSA-2"] for a in acks] == ["CTRL000000", "CTRL000001", "CTRL000002"]
    assert [p.read_bytes() for p in store.paths()] == sent


def test_frames_merged_in_one_write(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    sent = [_message(n) for n in range(500)]
    sent[100] = b"garbage"

    async def scenario():
        async with await _server(store) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"".join(MllpFramer.frame(m) for m in sent))
            await writer.drain()
            acks = await _read_acks(reader, MllpFramer(), len(sent))
            writer.close()
            await writer.wait_closed()
            return acks

    acks = [parse(a) for a in _run(scenario())]
    assert [a["MSA-1"] for a in acks] == ["AA"] * 100 + ["AR"] + ["AA"] * 399
    assert [a["MSA-2"] for a in acks if a["MSA-1"] == "AA"] == [
        f"CTRL{n:06d}" for n in range(500) if n != 100
    ]
    assert [p.read_bytes() for p in store.paths()] == sent[:100] + sent[101:]
    assert [p.read_bytes() for p in store.paths(rejected=True)] == [b"garbage"]


def test_oversized_frame_is_answered_and_skipped(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)

    async def scenario():
        async with await _server(store, max_frame=1000) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            framer = MllpFramer()
            writer.write(MllpFramer.frame(_message(1)) + b"\x0b" + b"A" * 5000)
            await writer.drain()
            first = await _read_acks(reader, framer, 2)
            writer.write(b"A" * 5000 + b"\x1c\r" + MllpFramer.frame(_message(2)))
            await writer.drain()
            second = await _read_acks(reader, framer, 1)
            writer.close()
            await writer.wait_closed()
            return first + second

    acks = [parse(a) for a in _run(scenario())]
    assert [a["MSA-1"] for a in acks] == ["AA", "AR", "AA"]
    assert acks[1]["ERR-8"] == "cannot parse at MLLP frame: expected a frame no larger than " + (
        "the limit of 1000 bytes"
    )
    assert [p.read_bytes() for p in store.paths()] == [_message(1), _message(2)]


def test_a_failing_handler_gets_ar_207_and_the_connection_stays(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    good = store_and_ack(store, CLOCK)

    async def flaky(payload):
        if b"CTRL000001" in payload:
            raise OSError("disk full")
        return await good(payload)

    async def scenario():
        async with (
            await serve(flaky, "127.0.0.1", 0, clock=CLOCK) as server,
            connect("127.0.0.1", server.port) as client,
        ):
            return [await client.send(_message(n)) for n in range(3)]

    acks = [parse(a) for a in _run(scenario())]
    assert [a["MSA-1"] for a in acks] == ["AA", "AR", "AA"]
    assert acks[1]["MSA-2"] == "CTRL000001"
    assert acks[1]["ERR-3.1"] == "207"
    assert len(store.paths()) == 2


def test_client_times_out_and_closes(tmp_path):
    async def slow(_payload):
        await asyncio.sleep(60)
        return "never"

    async def scenario():
        server = await serve(slow, "127.0.0.1", 0)
        async with connect("127.0.0.1", server.port) as client:
            with pytest.raises(AckTimeoutError) as info:
                await client.send(_message(1), timeout=0.1)
            assert isinstance(info.value, CareDomainError)
            assert isinstance(info.value, TimeoutError)
            with pytest.raises(MllpConnectionError):
                await client.send(_message(2))
        server.close()
        started = time.perf_counter()
        await server.wait_closed(timeout=0.2)  # the stuck handler is cancelled
        assert time.perf_counter() - started < 5

    _run(scenario())


def test_connecting_to_nothing_is_a_caredomain_error():
    async def refused():
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(MllpConnectionError, match="cannot connect"):
            async with connect("127.0.0.1", port):
                pass

    _run(refused())


def test_close_ends_serve_forever_with_a_client_connected(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)

    async def scenario():
        server = await _server(store)
        async with connect("127.0.0.1", server.port) as client:
            await client.send(_message(1))
            forever = asyncio.create_task(server.serve_forever())
            server.close()
            await forever
            await server.wait_closed()
            with pytest.raises(MllpConnectionError):
                await client.send(_message(2))

    _run(scenario())
    assert len(store.paths()) == 1


def test_phi_never_reaches_the_ack_or_the_log(tmp_path, caplog):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    bad = (
        "MSH|^~\\&|SENDER|FAC|CAREDOMAIN|CD|20261125||ADT^A01^ADT_A01|C1|P|2.5.1\r"
        f"PID|1||{phi.PATIENT_MRN}^^^FAC^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||"
        f"{phi.PATIENT_BIRTH_DATE}\r"
        f"{phi.PATIENT_FAMILY}|{phi.PATIENT_MRN}\r"
    ).encode()
    unsupported = bad.replace(b"ADT^A01^ADT_A01", b"ORM^O01").replace(
        f"\r{phi.PATIENT_FAMILY}|".encode(), b"\rNTE|"
    )

    async def scenario():
        async with await _server(store) as server, connect("127.0.0.1", server.port) as client:
            return [await client.send(bad), await client.send(unsupported)]

    with caplog.at_level(logging.DEBUG):
        acks = _run(scenario())
    assert [parse(a)["MSA-1"] for a in acks] == ["AR", "AR"]
    for ack in acks:
        phi.assert_no_phi(ack)
    assert "rejected" in caplog.text
    phi.assert_no_phi(caplog.text)
    assert [p.read_bytes() for p in store.paths(rejected=True)] == [bad, unsupported]


def test_framer_errors_are_caredomain_errors_and_keep_earlier_frames():
    framer = MllpFramer(max_frame=10)
    with pytest.raises(MllpFrameError) as info:
        framer.feed(MllpFramer.frame(b"one") + b"\x0b" + b"x" * 20)
    assert isinstance(info.value, ParseError)
    assert isinstance(info.value, ValueError)
    assert info.value.payloads == (b"one",)
    assert info.value.limit == 10
    assert framer.pending == 0
    assert framer.feed(b"xx\x1c\r" + MllpFramer.frame(b"two")) == [b"two"]


def test_framer_reassembles_a_large_frame_from_small_reads():
    payload = b"MSH|" + b"x" * 200_000
    framer = MllpFramer()
    stream = MllpFramer.frame(payload)
    got = []
    for i in range(0, len(stream), 7):
        got.extend(framer.feed(stream[i : i + 7]))
    assert got == [payload]


def test_split_messages():
    one = "MSH|^~\\&|A|B\nPID|1\n"
    two = "MSH|^~\\&|C|D\r\nPV1|1\r\n"
    assert split_messages(one + two) == ["MSH|^~\\&|A|B\rPID|1\r", "MSH|^~\\&|C|D\rPV1|1\r"]
    assert split_messages("\ufeff" + one + "\n\n  \n" + two) == split_messages(one + two)
    batch = "FHS|^~\\&\rBHS|^~\\&\r" + one.replace("\n", "\r") + two + "BTS|2\rFTS|1\r"
    assert split_messages(batch) == split_messages(one + two)
    framed = "\x0b" + one.replace("\n", "\r") + "\x1c\r"
    assert split_messages(framed) == ["MSH|^~\\&|A|B\rPID|1\r"]
    assert split_messages("PID|1\nPV1|1\n\n" + one) == ["PID|1\rPV1|1\r", "MSH|^~\\&|A|B\rPID|1\r"]
    assert split_messages("") == []
    assert split_messages("\n\n") == []


def test_with_a_profile_content_errors_are_stored_then_answered_ae(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    good = _message(1).replace(b"^MR\r", b"^MR||Doe^Jan||19610719|F\r")
    bad_date = _message(2).replace(b"^MR\r", b"^MR||Doe^Jan||19611319|F\r")
    pv1 = ["PV1", "1", "I"] + [""] * 42
    pv1[19], pv1[44] = "V3", "202611250900"  # visit number; admission time without an offset
    no_offset = _message(3) + "|".join(pv1).encode() + b"\r"
    chicago = SenderProfile(timezone="America/Chicago")

    async def scenario(profile):
        handler = store_and_ack(store, CLOCK, SequentialIds("ack"), profile=profile)
        async with (
            await serve(handler, "127.0.0.1", 0) as server,
            connect("127.0.0.1", server.port) as client,
        ):
            return [await client.send(m) for m in (good, bad_date, no_offset)]

    acks = [parse(a) for a in _run(scenario(SenderProfile()))]
    assert [a["MSA-1"] for a in acks] == ["AA", "AE", "AE"]
    assert (acks[1]["ERR-2.1"], acks[1]["ERR-2.3"]) == ("PID", "7")
    assert acks[1]["ERR-3.1"] == Hl7ErrorCode.DATA_TYPE_ERROR.value
    assert (acks[2]["ERR-2.1"], acks[2]["ERR-2.3"]) == ("PV1", "44")
    assert "sender timezone" in acks[2]["ERR-8"]
    assert [p.read_bytes() for p in store.paths(rejected=True)] == [bad_date, no_offset]
    # The sender's configured zone makes the offset-less admission time readable.
    acks = [parse(a) for a in _run(scenario(chicago))]
    assert [a["MSA-1"] for a in acks] == ["AA", "AE", "AA"]


def test_a_failing_reader_still_stores_the_message_and_answers_ar_207(tmp_path, monkeypatch):
    import caredomain.adapters.hl7v2.transport as transport

    def broken(message, *, profile):
        raise RuntimeError("a bug in a reader")

    monkeypatch.setattr(transport, "read", broken)
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)

    async def scenario():
        handler = store_and_ack(store, CLOCK, SequentialIds("ack"), profile=SenderProfile())
        async with (
            await serve(handler, "127.0.0.1", 0) as server,
            connect("127.0.0.1", server.port) as client,
        ):
            return await client.send(_message(5))

    ack = parse(_run(scenario()))
    assert ack["MSA-1"] == "AR"
    assert ack["ERR-3.1"] == Hl7ErrorCode.APPLICATION_INTERNAL_ERROR.value
    assert "RuntimeError" not in ack.delimiters.field.join(s.value(8) for s in ack.segments("ERR"))
    assert [p.read_bytes() for p in store.paths(rejected=True)] == [_message(5)]


def test_an_inbound_ack_is_stored_and_never_answered(tmp_path):
    store = MessageStore(tmp_path, fsync=False, clock=CLOCK)
    receipts = []
    ack = _message(6, "ACK^A01^ACK").replace(b"PID|1||6^^^FAC^MR\r", b"MSA|AA|OUT-1\r")

    async def scenario():
        handler = store_and_ack(store, CLOCK, SequentialIds("ack"), on_receipt=receipts.append)
        async with (
            await serve(handler, "127.0.0.1", 0) as server,
            connect("127.0.0.1", server.port, timeout=5) as client,
        ):
            first = await client.send(ack)  # returns at once: nothing is awaited
            second = await client.send(_message(7))  # the next reply is this message's
            return first, second

    first, second = _run(scenario())
    assert first is None
    assert parse(second)["MSA-2"] == "CTRL000007"
    assert [r.ack for r in receipts] == [None, AckCode.AA]
    assert [p.read_bytes() for p in store.paths()] == [ack, _message(7)]


def test_the_client_refuses_a_reply_that_acknowledges_another_message(tmp_path):
    async def wrong(payload):
        return b"MSH|^~\\&|R|F|S|F|20261125135000+0000||ACK^A01^ACK|X1|P|2.5.1\rMSA|AA|OTHER\r"

    async def scenario():
        async with (
            await serve(wrong, "127.0.0.1", 0) as server,
            connect("127.0.0.1", server.port) as client,
        ):
            await client.send(_message(8))

    with pytest.raises(MllpConnectionError, match="another message"):
        _run(scenario())
