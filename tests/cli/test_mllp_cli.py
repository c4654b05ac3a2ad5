import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from caredomain.adapters.hl7v2 import MllpFramer, parse
from caredomain.cli import main
from tests.phi import PATIENT_FAMILY, PATIENT_GIVEN, PATIENT_MRN, assert_no_phi


def _message(n, kind="ADT^A01^ADT_A01", sep="\n"):
    return sep.join(
        [
            f"MSH|^~\\&|SENDER|FAC|CAREDOMAIN|CD|20261125135000+0000||{kind}|CTRL{n}|P|2.5.1",
            f"PID|1||{PATIENT_MRN}^^^FAC^MR||{PATIENT_FAMILY}^{PATIENT_GIVEN}",
            "PV1|1|I",
        ]
    )


class _Listener:
    """`python -m caredomain mllp listen` in a subprocess, on a free port."""

    def __init__(self, out: Path, *extra: str) -> None:
        command = [sys.executable, "-m", "caredomain", "mllp", "listen", "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--out", str(out), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self.banner = self.process.stderr.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+), storing into ", self.banner)
        assert match, self.banner
        self.port = match[1]

    def finish(self):
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, self.banner + err

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def _send(capsys, port, *files):
    code = main(["mllp", "send", "--port", port, "--timeout", "10", *map(str, files)])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_listen_and_send_end_to_end(tmp_path, capsys):
    first = tmp_path / "two.hl7"
    first.write_text(_message(1) + "\n\n" + _message(2) + "\n")  # blank-line separated
    second = tmp_path / "more.hl7"
    second.write_bytes((_message(3, sep="\r") + "\r" + _message(4, sep="\r") + "\r").encode())
    out_dir = tmp_path / "inbox"
    listener = _Listener(out_dir, "--max-messages", "4")
    try:
        code, lines, err = _send(capsys, listener.port, first, second)
        listen_code, listen_out, listen_err = listener.finish()
    finally:
        listener.kill()
    assert code == 0, err
    assert lines == [
        {"file": str(first), "index": 1, "ack": "AA", "control_id": "CTRL1"},
        {"file": str(first), "index": 2, "ack": "AA", "control_id": "CTRL2"},
        {"file": str(second), "index": 1, "ack": "AA", "control_id": "CTRL3"},
        {"file": str(second), "index": 2, "ack": "AA", "control_id": "CTRL4"},
    ]
    assert listen_code == 0, listen_err
    received = [json.loads(line) for line in listen_out.splitlines()]
    assert [(r["type"], r["control_id"], r["ack"]) for r in received] == [
        ("ADT^A01", f"CTRL{n}", "AA") for n in range(1, 5)
    ]
    files = [Path(r["file"]) for r in received]
    assert all(f.parent == out_dir for f in files)
    assert sorted(files) == files
    # Stored as sent: segments terminated by CR.
    assert files[0].read_bytes() == (_message(1, sep="\r") + "\r").encode()
    assert "stopped after 4 messages" in listen_err
    for text in (err, listen_out, listen_err):
        assert_no_phi(text)


def test_rejected_messages_exit_1_and_leak_nothing(tmp_path, capsys):
    path = tmp_path / "mixed.hl7"
    bad = _message(2).replace("PV1|", "pv1|")
    unsupported = _message(3, kind="ORM^O01^ORM_O01")
    path.write_text("\n\n".join([_message(1), bad, unsupported, _message(4)]))
    out_dir = tmp_path / "inbox"
    listener = _Listener(out_dir, "--max-messages", "4")
    try:
        code, lines, err = _send(capsys, listener.port, path)
        listen_code, listen_out, listen_err = listener.finish()
    finally:
        listener.kill()
    assert code == 1
    assert [line["ack"] for line in lines] == ["AA", "AR", "AR", "AA"]
    assert lines[1] == {
        "file": str(path),
        "index": 2,
        "ack": "AR",
        "control_id": None,
        "error_code": "100",
    }
    assert lines[2]["error_code"] == "200"
    assert lines[2]["control_id"] == "CTRL3"
    assert listen_code == 0
    received = [json.loads(line) for line in listen_out.splitlines()]
    assert received[1]["type"] is None
    assert received[1]["error_code"] == "100"
    assert Path(received[1]["file"]).parent == out_dir / "rejected"
    assert Path(received[2]["file"]).parent == out_dir / "rejected"
    assert len(list((out_dir / "rejected").glob("*.hl7"))) == 2
    for text in (err, listen_out, listen_err):
        assert_no_phi(text)


def test_listen_stops_on_sigterm(tmp_path):
    listener = _Listener(tmp_path / "inbox")
    try:
        listener.process.send_signal(signal.SIGTERM)
        code, out, err = listener.finish()
    finally:
        listener.kill()
    assert code == 0
    assert out == ""
    assert "stopped after 0 messages" in err


def test_send_to_nobody_exits_1(tmp_path, capsys):
    path = tmp_path / "one.hl7"
    path.write_text(_message(1))
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    code, lines, err = _send(capsys, port, path)
    assert code == 1
    assert lines == []
    assert f"{path} message 1: not sent: cannot connect" in err


def test_send_unreadable_file_is_a_usage_error(tmp_path, capsys):
    code, lines, err = _send(capsys, "2575", tmp_path / "missing.hl7")
    assert code == 2
    assert lines == []
    assert "cannot read" in err


def test_send_empty_file_exits_1(tmp_path, capsys):
    path = tmp_path / "empty.hl7"
    path.write_text("\n\n")
    code, lines, err = _send(capsys, "2575", path)
    assert code == 1
    assert lines == []
    assert "no messages" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["listen"],
        ["listen", "--out", "x", "--max-messages", "0"],
        ["listen", "--out", "x", "--port", "70000"],
        ["listen", "--out", "x", "--check", "--sender-tz", "Nowhere/Atlantis"],
        ["send"],
        ["send", "x.hl7", "--timeout", "0"],
        ["send", "x.hl7", "--port", "http"],
    ],
)
def test_bad_arguments_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(["mllp", *argv])
    assert info.value.code == 2


def test_mllp_without_an_action_is_a_usage_error(capsys):
    assert main(["mllp"]) == 2
    err = capsys.readouterr().err
    assert "listen" in err
    assert "send" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["mllp", "listen", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--max-messages N" in out
    assert "--out DIR" in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "mllp" in capsys.readouterr().out


def test_max_messages_is_exact_for_a_pipelining_sender(tmp_path):
    out_dir = tmp_path / "inbox"
    listener = _Listener(out_dir, "--max-messages", "2")
    frames = b"".join(
        MllpFramer.frame((_message(n, sep="\r") + "\r").encode()) for n in range(1, 6)
    )
    acks = []
    try:
        with socket.create_connection(("127.0.0.1", int(listener.port)), timeout=10) as sock:
            sock.sendall(frames)  # five messages at once, before any ACK
            framer = MllpFramer()
            while data := sock.recv(65536):  # until the listener closes the connection
                acks.extend(framer.feed(data))
        code, out, _err = listener.finish()
    finally:
        listener.kill()
    assert code == 0
    assert [parse(a)["MSA-2"] for a in acks] == ["CTRL1", "CTRL2"]
    assert len(out.splitlines()) == 2
    assert len(list(out_dir.glob("*.hl7"))) == 2


def test_listen_check_answers_ae_for_content_it_cannot_read(tmp_path, capsys):
    sample = Path(__file__).parents[2] / "examples" / "hl7v2" / "adt-a04-register.hl7"
    bad = tmp_path / "bad.hl7"  # a birth date in month 13
    bad.write_bytes(sample.read_bytes().replace(b"|19", b"|1913", 1))
    listener = _Listener(
        tmp_path / "inbox", "--max-messages", "2", "--check", "--sender-tz", "America/Chicago"
    )
    try:
        code, lines, err = _send(capsys, listener.port, sample, bad)
        listen_code, listen_out, listen_err = listener.finish()
    finally:
        listener.kill()
    assert code == 1, err
    assert [line["ack"] for line in lines] == ["AA", "AE"]
    assert listen_code == 0, listen_err
    assert len(list((tmp_path / "inbox" / "rejected").iterdir())) == 1
    assert [json.loads(line)["ack"] for line in listen_out.splitlines()] == ["AA", "AE"]
