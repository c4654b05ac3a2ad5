import base64
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.convert import (
    CONVERTED_EVENTS,
    IG_DEPARTURES,
    ConversionFailure,
    Converted,
    FailureReason,
    convert,
    convert_stream,
    split_stream,
    to_hl7v2,
)
from caredomain.adapters.fhir.bundles import (
    HL7V2_MEDIA_TYPE,
    SourceMessage,
    assemble,
    full_url,
    request_for,
    unresolved_references,
)
from caredomain.adapters.hl7v2 import Hl7ParseError, SenderProfile, parse, read
from caredomain.adapters.hl7v2.transport import split_messages
from caredomain.core.errors import ValidationError
from tests import phi
from tests.phi import PATIENT_BIRTH_DATE, PATIENT_FAMILY, PATIENT_GIVEN, PATIENT_MRN, assert_no_phi

ROOT = Path(__file__).resolve().parents[2]
HL7 = ROOT / "examples" / "hl7v2"
EXPECTED = ROOT / "examples" / "fhir"
CHICAGO = SenderProfile(timezone="America/Chicago")

CONVERTED = sorted(
    p.name
    for p in HL7.glob("*.hl7")
    if p.name != "batch.hl7"
    and (lambda m: m.type.split("^")[0] in CONVERTED_EVENTS)(parse(p.read_bytes()))
)


def sample(name):
    return (HL7 / name).read_bytes()


def resources(bundle, kind=None):
    found = [e["resource"] for e in bundle["entry"]]
    return [r for r in found if kind is None or r["resourceType"] == kind]


def resolve(bundle, reference):
    (entry,) = [e for e in bundle["entry"] if e["fullUrl"] == reference["reference"]]
    return entry["resource"]


# --- every example, both versions, both kinds -------------------------------------------


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("kind", ["transaction", "message"])
@pytest.mark.parametrize("name", CONVERTED)
def test_every_example_converts_to_a_valid_bundle(name, version, kind):
    bundle = convert(
        sample(name), fhir_version=version, bundle=kind, profile=CHICAGO, validate=True
    )
    assert bundle["type"] == kind
    assert unresolved_references(bundle) == []
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    assert all(u.startswith("urn:uuid:") for u in urls)
    types = [r["resourceType"] for r in resources(bundle)]
    assert types.count("Provenance") == 1
    assert types.count("Patient") == 1
    if kind == "message":
        assert types[0] == "MessageHeader"
        assert all("request" not in e for e in bundle["entry"])
    else:
        assert "MessageHeader" not in types
        assert all("request" in e for e in bundle["entry"])


def test_covers_the_corpus():
    prefixes = Counter(n.split("-")[0] for n in CONVERTED)
    assert prefixes == {"adt": 9, "oru": 6, "siu": 7, "ref": 5, "rri": 1}


def test_the_same_message_gives_the_same_bundle():
    assert convert(sample("adt-a01-admit.hl7"), profile=CHICAGO) == convert(
        sample("adt-a01-admit.hl7"), profile=CHICAGO
    )


def test_text_bytes_and_parsed_messages_convert_alike():
    data = sample("oru-r01-hf-home-kg.hl7")
    by_bytes = convert(data, profile=CHICAGO)
    assert convert(data.decode(), profile=CHICAGO) == by_bytes
    assert convert(parse(data), profile=CHICAGO) == by_bytes


# --- the seeds' scenarios ------------------------------------------------------------------


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_discharge_becomes_an_encounter_with_its_disposition(version):
    bundle = convert(sample("adt-a03-discharge-hf.hl7"), fhir_version=version, profile=CHICAGO)
    (encounter,) = resources(bundle, "Encounter")
    r4 = version == "R4"
    assert encounter["status"] == ("finished" if r4 else "completed")
    stay = encounter["hospitalization" if r4 else "admission"]
    assert stay["dischargeDisposition"]["coding"][0]["code"] == "01"
    period = encounter["period" if r4 else "actualPeriod"]
    assert period == {"start": "2026-11-18T14:05:00-06:00", "end": "2026-11-25T15:30:00-06:00"}
    assert resolve(bundle, encounter["subject"])["resourceType"] == "Patient"
    actor = "individual" if r4 else "actor"
    roles = {
        p["type"][0]["coding"][0]["code"]: resolve(bundle, p[actor])["identifier"][0]["value"]
        for p in encounter["participant"]
    }
    assert roles == {"ATND": "D20877", "REF": "D10442", "ADM": "D20877"}
    location = resolve(bundle, encounter["location"][0]["location"])
    assert location["resourceType"] == "Location"
    assert location["physicalType" if r4 else "form"]["coding"][0]["code"] == "bd"


@pytest.mark.parametrize(
    ("name", "units"),
    [
        ("oru-r01-hf-home-kg.hl7", {"29463-7": "kg", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]"}),
        ("oru-r01-hf-home-lb.hl7", {"29463-7": "[lb_av]", "8480-6": "mm[Hg]"}),
    ],
)
def test_home_readings_become_observations_in_ucum(name, units):
    bundle = convert(sample(name), profile=CHICAGO)
    for observation in resources(bundle, "Observation"):
        code = observation["code"]["coding"][0]["code"]
        quantity = observation["valueQuantity"]
        assert quantity["system"] == "http://unitsofmeasure.org"
        if code in units:
            assert quantity["code"] == units[code]
        assert resolve(bundle, observation["subject"])["resourceType"] == "Patient"
    reports = resources(bundle, "DiagnosticReport")
    assert len(reports) == 2
    results = [resolve(bundle, r) for report in reports for r in report["result"]]
    assert Counter(o["resourceType"] for o in results) == {
        "Observation": len(resources(bundle, "Observation"))
    }


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_booking_becomes_a_booked_appointment_with_its_participants(version):
    bundle = convert(sample("siu-s12-new-booking.hl7"), fhir_version=version, profile=CHICAGO)
    (appointment,) = resources(bundle, "Appointment")
    assert appointment["status"] == "booked"
    assert appointment["start"] == "2026-12-03T09:00:00-06:00"
    assert appointment["end"] == "2026-12-03T09:30:00-06:00"
    actors = [resolve(bundle, p["actor"])["resourceType"] for p in appointment["participant"]]
    assert actors == ["Patient", "Device", "Location", "Practitioner"]
    assert {p["status"] for p in appointment["participant"]} == {"accepted"}
    if version == "R5":
        assert resolve(bundle, appointment["subject"])["resourceType"] == "Patient"


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_referral_becomes_service_request_task_and_authorization(version):
    bundle = convert(
        sample("ref-i12-cardiology-consult.hl7"), fhir_version=version, profile=CHICAGO
    )
    (request,) = resources(bundle, "ServiceRequest")
    (task,) = resources(bundle, "Task")
    assert resolve(bundle, task["focus"]) is request
    assert resolve(bundle, task["for"])["resourceType"] == "Patient"
    assert resolve(bundle, request["requester"])["identifier"][0]["value"] == "D10442"
    assert resolve(bundle, request["performer"][0])["identifier"][0]["value"] == "D20877"
    claim_response = resolve(bundle, request["insurance"][0])
    assert claim_response["resourceType"] == "ClaimResponse"
    assert claim_response["use"] == "preauthorization"
    assert claim_response["preAuthRef"] == "PA-REQ-88213"
    assert claim_response["outcome"] == "queued"  # AUT-9 not sent: requested
    assert resolve(bundle, claim_response["patient"])["resourceType"] == "Patient"
    # RF1-7 and RF1-8 are dates, and stay dates.
    assert request["occurrencePeriod"] == {"start": "2026-12-01", "end": "2027-03-01"}
    reasons = (
        request["reasonCode"] if version == "R4" else [r["concept"] for r in request["reason"]]
    )
    codes = [c["coding"][0]["code"] for c in reasons]
    assert codes == ["O", "I50.22", "R06.02"]  # RF1-10, then the DG1 diagnoses
    assert request["note"][0]["text"].startswith("Worsening dyspnea")


# --- examples/fhir: expected Bundles, compared by structure ------------------------------


def _shape(bundle):
    """What must match: types in order, requests, and the key fields of each resource."""
    index = {e["fullUrl"]: n for n, e in enumerate(bundle["entry"])}
    shape = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        refs = sorted(
            index[v]
            for k, v in _references(resource)
            if v.startswith("urn:uuid:")  # every one must resolve (KeyError otherwise)
        )
        key = {
            "Patient": lambda r: (r["identifier"][0]["value"], r.get("birthDate")),
            "Practitioner": lambda r: r["identifier"][0]["value"],
            "Encounter": lambda r: (r["status"], json.dumps(r.get("period"), sort_keys=True)),
            "Observation": lambda r: (
                r["code"]["coding"][0]["code"],
                json.dumps(r.get("valueQuantity"), sort_keys=True),
                r.get("effectiveDateTime"),
            ),
            "DiagnosticReport": lambda r: (r["status"], r["code"]["coding"][0]["code"]),
            "Provenance": lambda r: (r["recorded"], len(r["target"])),
            "Appointment": lambda r: (r["status"], r.get("start"), r.get("end")),
            "ServiceRequest": lambda r: (r["status"], r["intent"], json.dumps(r.get("code"))),
            "Task": lambda r: (r["status"], json.dumps(r["businessStatus"], sort_keys=True)),
            "ClaimResponse": lambda r: (r["outcome"], r.get("preAuthRef")),
            "Location": lambda r: r["name"],
        }.get(kind, lambda r: None)(resource)
        method = entry.get("request", {}).get("method")
        shape.append((kind, method, key, refs))
    return shape


def _references(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                yield path, v
            else:
                yield from _references(v, f"{path}.{k}")
    elif isinstance(node, list):
        for n, v in enumerate(node):
            yield from _references(v, f"{path}[{n}]")


@pytest.mark.parametrize("expected", sorted(EXPECTED.glob("*.r4.json")), ids=lambda p: p.name)
def test_examples_match_their_expected_bundles(expected):
    name = expected.name.removesuffix(".r4.json")
    bundle = convert(sample(f"{name}.hl7"), profile=CHICAGO, validate=True)
    assert _shape(bundle) == _shape(json.loads(expected.read_text(encoding="utf-8")))


def test_the_required_examples_have_expected_bundles():
    names = {p.name.removesuffix(".r4.json") for p in EXPECTED.glob("*.r4.json")}
    assert {
        "adt-a03-discharge-hf",
        "oru-r01-hf-home-kg",
        "oru-r01-hf-home-lb",
        "siu-s12-new-booking",
        "ref-i12-cardiology-consult",
    } <= names


# --- Bundle machinery ---------------------------------------------------------------------


def test_conditional_create_for_patients_and_practitioners_put_for_the_rest():
    bundle = convert(sample("adt-a03-discharge-hf.hl7"), profile=CHICAGO)
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        if resource["resourceType"] in ("Patient", "Practitioner"):
            assert request["method"] == "POST"
            assert request["url"] == resource["resourceType"]
            assert "id" not in resource
            identifier = resource["identifier"][0]
            assert request["ifNoneExist"] == (
                f"identifier={identifier['system']}|{identifier['value']}"
            )
        else:
            assert request == {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
    (patient,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["request"]["ifNoneExist"] == "identifier=LMH|LMH00482913"


def test_search_tokens_are_escaped():
    request = request_for(
        {
            "resourceType": "Patient",
            "id": "x",
            "identifier": [{"system": "urn:oid:1.2", "value": "A|B,C$D E&F"}],
        }
    )
    assert request["ifNoneExist"] == "identifier=urn:oid:1.2|A%5C%7CB%5C%2CC%5C%24D%20E%26F"


def test_identifier_without_system_and_no_identifier():
    only_value = {"resourceType": "Practitioner", "id": "p", "identifier": [{"value": "42"}]}
    assert request_for(only_value)["ifNoneExist"] == "identifier=42"
    anonymous = {"resourceType": "Practitioner", "id": "p"}
    assert request_for(anonymous) == {"method": "PUT", "url": "Practitioner/p"}


def test_references_outside_the_bundle_become_logical():
    source = SourceMessage("C1", "ORU", "R01", sent_at=_instant())
    observation = {
        "resourceType": "Observation",
        "id": "o",
        "subject": {"reference": "Patient/p"},
        "performer": [{"reference": "Practitioner/x", "display": "Dr X"}],
        "device": {"reference": "Device/d"},
    }
    patient = {"resourceType": "Patient", "id": "p"}
    bundle = assemble([patient, observation], source=source)
    written = bundle["entry"][1]["resource"]
    assert written["subject"] == {"reference": full_url("Patient", "p")}
    assert written["performer"] == [{"type": "Practitioner", "display": "Dr X"}]
    assert "reference" not in written["device"]
    assert written["device"]["type"] == "Device"
    assert unresolved_references(bundle) == []
    assert observation["subject"] == {"reference": "Patient/p"}  # inputs are not changed


def test_unresolved_references_are_found():
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "a"}},
            {
                "fullUrl": "urn:uuid:2",
                "resource": {"resourceType": "Observation", "subject": {"reference": "urn:uuid:9"}},
            },
        ],
    }
    assert unresolved_references(bundle) == ["Bundle.entry[1].resource.subject"]


def test_duplicates_are_kept_once():
    source = SourceMessage("C1", "ADT", "A08", sent_at=_instant())
    patient = {"resourceType": "Patient", "id": "p"}
    bundle = assemble([patient, dict(patient)], source=source)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient", "Provenance"]


def _instant():
    import pendulum

    return pendulum.datetime(2026, 11, 25, 15, 35, 12, tz="America/Chicago")


def test_provenance_points_at_the_source_message():
    bundle = convert(sample("adt-a03-discharge-hf.hl7"), profile=CHICAGO)
    (provenance,) = resources(bundle, "Provenance")
    assert provenance["recorded"] == "2026-11-25T15:35:12-06:00"
    assert provenance["activity"]["coding"][0]["code"] == "A03"
    (agent,) = provenance["agent"]
    assert agent["who"]["identifier"]["value"] == "ADTSYS"
    assert agent["onBehalfOf"]["identifier"]["value"] == "LMH"
    (entity,) = provenance["entity"]
    assert entity["role"] == "source"
    assert entity["what"]["identifier"]["value"] == "LMH-ADT-000188"
    targets = [resolve(bundle, t)["resourceType"] for t in provenance["target"]]
    assert sorted(targets) == sorted(
        r["resourceType"] for r in resources(bundle) if r["resourceType"] != "Provenance"
    )


def test_the_message_can_be_embedded_as_a_binary():
    data = sample("oru-r01-hf-home-kg.hl7")
    bundle = convert(data, profile=CHICAGO, embed_source=True, validate=True)
    (binary,) = resources(bundle, "Binary")
    assert binary["contentType"] == HL7V2_MEDIA_TYPE
    assert base64.b64decode(binary["data"]) == data
    (provenance,) = resources(bundle, "Provenance")
    assert resolve(bundle, provenance["entity"][0]["what"]) is binary
    assert all(resolve(bundle, t)["resourceType"] != "Binary" for t in provenance["target"])
    with pytest.raises(ValidationError):
        convert(parse(data), profile=CHICAGO, embed_source=True)


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_message_bundle_header(version):
    bundle = convert(
        sample("adt-a03-discharge-hf.hl7"), fhir_version=version, bundle="message", profile=CHICAGO
    )
    header = bundle["entry"][0]["resource"]
    assert header["eventCoding"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0003",
        "code": "A03",
    }
    endpoint = "endpoint" if version == "R4" else "endpointUrl"
    assert header["source"]["name"] == "ADTSYS"
    assert header["source"][endpoint].startswith("urn:uuid:")
    assert header["destination"][0]["name"] == "CAREDOMAIN"
    assert [resolve(bundle, f)["resourceType"] for f in header["focus"]] == ["Encounter"]
    assert bundle["timestamp"] == "2026-11-25T15:35:12-06:00"


def test_bad_options():
    with pytest.raises(ValidationError, match="R4 or R5"):
        convert(sample("adt-a01-admit.hl7"), fhir_version="R3", profile=CHICAGO)
    with pytest.raises(ValidationError, match="transaction or message"):
        convert(sample("adt-a01-admit.hl7"), bundle="batch", profile=CHICAGO)


# --- time -------------------------------------------------------------------------------------


def _replace(data, old, new):
    assert old in data
    return data.replace(old, new)


def test_a_date_only_ts_stays_a_date():
    data = sample("oru-r01-hf-home-kg.hl7")
    data = _replace(data, b"|20261128071000-0600||||SCALE", b"|20261128||||SCALE")
    data = _replace(data, b"|20261128071500-0600|||||||||D2", b"|202611|||||||||D2")
    bundle = convert(data, profile=CHICAGO, validate=True)
    effective = [o.get("effectiveDateTime") for o in resources(bundle, "Observation")]
    assert effective[0] == "2026-11-28"
    reports = resources(bundle, "DiagnosticReport")
    assert reports[1]["effectiveDateTime"] == "2026-11"
    assert effective[1] == "2026-11-28T07:15:00-06:00"  # OBX-14 sent with a time


def test_a_date_only_admission_stays_a_date():
    data = _replace(sample("adt-a03-discharge-hf.hl7"), b"|20261118140500-0600|", b"|20261118|")
    (encounter,) = resources(convert(data, profile=CHICAGO, validate=True), "Encounter")
    assert encounter["period"] == {"start": "2026-11-18", "end": "2026-11-25T15:30:00-06:00"}


def test_times_without_offset_take_the_sender_zone_and_need_it():
    data = sample("oru-r01-hf-home-lb.hl7")
    bundle = convert(data, profile=SenderProfile(timezone="America/New_York"))
    assert resources(bundle, "Observation")[0]["effectiveDateTime"] == ("2026-12-06T07:05:00-05:00")
    with pytest.raises(Hl7ParseError, match="timezone"):
        convert(data)


def test_never_the_machine_zone():
    script = (
        "import json, sys;"
        "from caredomain.adapters.convert import convert;"
        "from caredomain.adapters.hl7v2 import SenderProfile;"
        "p = SenderProfile(timezone='America/Chicago');"
        "print(json.dumps([convert(open(f, 'rb').read(), profile=p) for f in sys.argv[1:]]))"
    )
    files = [str(HL7 / "oru-r01-hf-home-lb.hl7"), str(HL7 / "adt-a03-discharge-hf.hl7")]
    for zone in ("Asia/Tokyo", "UTC", "Pacific/Chatham"):
        env = {**os.environ, "TZ": zone}
        out = subprocess.run(
            [sys.executable, "-c", script, *files],
            capture_output=True,
            check=True,
            env=env,
            cwd=ROOT,
        ).stdout
        assert json.loads(out) == [
            convert((HL7 / "oru-r01-hf-home-lb.hl7").read_bytes(), profile=CHICAGO),
            convert((HL7 / "adt-a03-discharge-hf.hl7").read_bytes(), profile=CHICAGO),
        ]


# --- streams --------------------------------------------------------------------------------


def test_stream_reports_failures_and_goes_on():
    messages = [
        sample("adt-a01-admit.hl7"),
        b"this is not HL7",
        sample("ref-i12-cardiology-consult.hl7").replace(b"REF^I12", b"MFN^M02"),
        sample("oru-r01-hf-home-lb.hl7"),  # no offsets, and no sender zone here
        sample("oru-r01-hf-home-kg.hl7"),
    ]
    results = list(convert_stream(messages))
    assert [r.index for r in results] == [1, 2, 3, 4, 5]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert isinstance(results[0], Converted)
    assert results[0].event == "ADT^A01"
    reasons = [r.reason for r in results if isinstance(r, ConversionFailure)]
    assert reasons == [
        FailureReason.UNREADABLE,
        FailureReason.UNSUPPORTED,
        FailureReason.INVALID_CONTENT,
    ]
    assert "segment 3 (OBR), field 7" in results[3].detail


def test_stream_is_lazy():
    pulled = []

    def messages():
        for n in range(3):
            pulled.append(n)
            yield sample("oru-r01-hf-home-kg.hl7")

    stream = convert_stream(messages(), profile=CHICAGO, start=10)
    first = next(stream)
    assert pulled == [0]
    assert first.index == 10


def test_stream_validation_failures_are_invalid_fhir(monkeypatch):
    from caredomain.adapters import convert as module

    def reject(resource, version):
        raise ValidationError.at(f"{resource['resourceType']}.id", "expected a good id")

    monkeypatch.setattr(module, "_validate_resource", reject)
    (result,) = convert_stream([sample("oru-r01-hf-home-kg.hl7")], profile=CHICAGO, validate=True)
    assert result.reason is FailureReason.INVALID_FHIR
    assert "Bundle.entry[0].resource.Patient.id" in result.detail


def test_unexpected_errors_are_reported_by_type_only(monkeypatch):
    from caredomain.adapters import convert as module

    def broken(*args):
        raise KeyError(PATIENT_FAMILY)

    monkeypatch.setattr(module, "_convert_parsed", broken)
    (result,) = convert_stream([sample("oru-r01-hf-home-kg.hl7")], profile=CHICAGO)
    assert result.reason is FailureReason.INTERNAL
    assert result.detail == "unexpected KeyError"


def test_failures_carry_no_patient_data():
    bad_pid = (
        f"MSH|^~\\&|A|B|C|D|20261125153512-0600||ADT^A01|C1|P|2.5.1\r"
        f"PID|1||{PATIENT_MRN}^^^LMH^MR||{PATIENT_FAMILY}^{PATIENT_GIVEN}||"
        f"{PATIENT_BIRTH_DATE.replace('-', '')}XX\r"
        f"PV1|1|I|||||||||||||||||V1^^^LMH^VN|||||||||||||||||||||||||bad-time\r"
    )
    for result in convert_stream([bad_pid.encode(), bad_pid.replace("MSH", "MSX").encode()]):
        assert not result.ok
        assert_no_phi(result.detail)


def test_every_departure_from_the_ig_is_on_the_fhir_page():
    page = (Path(__file__).parents[2] / "docs" / "fhir.md").read_text()
    missing = [name for name in IG_DEPARTURES if name not in page]
    assert missing == []


# --- split_stream -----------------------------------------------------------------------------


def _chunks(data, size):
    return [data[i : i + size] for i in range(0, len(data), size)]


@settings(max_examples=60, deadline=None)
@given(size=st.integers(min_value=1, max_value=5000), crlf=st.booleans())
def test_split_stream_agrees_with_split_messages(size, crlf):
    data = sample("batch.hl7")
    if crlf:
        data = data.replace(b"\r", b"\r\n")
    expected = [m.encode() for m in split_messages(data.decode("utf-8"))]
    assert list(split_stream(_chunks(data, size))) == expected


def test_split_stream_batches_bom_and_frames():
    data = (
        b"\xef\xbb\xbfFHS|^~\\&\rBHS|^~\\&\r"
        + sample("adt-a01-admit.hl7")
        + b"\x0b"
        + sample("oru-r01-hf-home-kg.hl7")
        + b"\x1c\r"
        + b"BTS|2\rFTS|1\r"
    )
    messages = list(split_stream(_chunks(data, 3)))
    assert len(messages) == 2
    assert [parse(m).type for m in messages] == ["ADT^A01", "ORU^R01"]


def test_split_stream_keeps_latin1_bytes():
    data = sample("adt-a08-latin1.hl7")
    (message,) = split_stream([data])
    assert parse(message).control_id == parse(data).control_id
    assert b"Lef\xe8vre" in message


# --- FHIR -> HL7 v2 -------------------------------------------------------------------------


def _now():
    import pendulum

    return pendulum.datetime(2026, 12, 1, 12, 0, tz="UTC")


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("kind", ["transaction", "message"])
def test_appointment_bundle_back_to_siu(version, kind):
    data = sample("siu-s12-new-booking.hl7")
    original = read(parse(data), profile=CHICAGO)
    bundle = convert(data, fhir_version=version, bundle=kind, profile=CHICAGO)
    text = to_hl7v2(bundle, fhir_version=version, now=_now())
    back = read(parse(text), profile=CHICAGO)
    assert back.trigger == "S12"
    assert back.appointment.state == original.appointment.state
    assert back.appointment.interval == original.appointment.interval
    assert back.patient.identifiers == original.patient.identifiers
    assert parse(text)["MSH-7"] == "20261130101522-0600"  # the Bundle's timestamp


@pytest.mark.parametrize(
    ("name", "trigger"), [("siu-s15-cancel.hl7", "S15"), ("siu-s26-no-show.hl7", "S26")]
)
def test_appointment_state_picks_the_trigger(name, trigger):
    bundle = convert(sample(name), profile=CHICAGO)
    assert read(parse(to_hl7v2(bundle, now=_now())), profile=CHICAGO).trigger == trigger


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_referral_bundle_back_to_ref(version):
    data = sample("ref-i12-cardiology-consult.hl7")
    original = read(parse(data), profile=CHICAGO)
    bundle = convert(data, fhir_version=version, profile=CHICAGO)
    text = to_hl7v2(bundle, fhir_version=version, now=_now(), timezone="America/Chicago")
    back = read(parse(text), profile=CHICAGO)
    assert (back.message_type, back.trigger) == ("REF", "I12")
    assert back.referral == original.referral
    assert back.diagnoses == original.diagnoses
    assert back.notes == original.notes
    assert back.authorization.identifier == original.authorization.identifier
    assert back.authorization.payer == original.authorization.payer
    assert [p.role for p in back.providers] == ["RP", "RT"]


def test_referral_cancel_is_i14():
    bundle = convert(sample("ref-i14-cancel.hl7"), profile=CHICAGO)
    text = to_hl7v2(bundle, now=_now(), timezone="America/Chicago")
    assert read(parse(text), profile=CHICAGO).trigger == "I14"


def test_to_hl7v2_refusals():
    bundle = convert(sample("ref-i12-cardiology-consult.hl7"), profile=CHICAGO)
    with pytest.raises(ValidationError, match="timezone"):
        to_hl7v2(bundle, now=_now())  # occurrencePeriod holds dates
    with pytest.raises(ValidationError, match="an Appointment, or a ServiceRequest"):
        to_hl7v2(convert(sample("adt-a01-admit.hl7"), profile=CHICAGO), now=_now())
    with pytest.raises(ValidationError, match="a Bundle"):
        to_hl7v2({"resourceType": "Patient"}, now=_now())


def test_to_hl7v2_never_takes_a_naive_or_broken_time_as_utc():
    bundle = convert(sample("siu-s12-new-booking.hl7"), profile=CHICAGO)
    with pytest.raises(ValidationError):  # NaiveDatetimeError: no offset, no guess
        to_hl7v2({**bundle, "timestamp": "2026-03-02T09:00:00"}, now=_now())
    with pytest.raises(ValidationError):
        to_hl7v2({**bundle, "timestamp": f"{phi.PATIENT_FAMILY}-1950"}, now=_now())
    referral = convert(sample("ref-i12-cardiology-consult.hl7"), profile=CHICAGO)
    for entry in referral["entry"]:
        if entry["resource"]["resourceType"] == "ClaimResponse":
            entry["resource"]["created"] = "2026-03-02T09:00:00"
    with pytest.raises(ValidationError, match=r"ClaimResponse\.created") as caught:
        to_hl7v2(referral, now=_now(), timezone="America/Chicago")
    phi.assert_no_phi(str(caught.value))


# --- optional conformance: Medplum's validateResource (Node and @medplum/core) ----------------

_MEDPLUM_VALIDATE = r"""
const { validateResource } = require('@medplum/core');
const bundles = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const problems = [];
for (const bundle of bundles) {
  for (const [n, entry] of bundle.entry.entries()) {
    try { validateResource(entry.resource); }
    catch (err) { problems.push(`${entry.resource.resourceType} entry ${n}: ${err.message}`); }
  }
}
console.log(JSON.stringify(problems));
"""


def _medplum():
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js")
    probe = subprocess.run([node, "-e", "require('@medplum/core')"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("@medplum/core is not installed (blocked: no network for npm)")
    return node


def test_every_resource_passes_medplum_validate_resource():
    node = _medplum()
    bundles = [convert(sample(name), profile=CHICAGO) for name in CONVERTED]
    result = subprocess.run(
        [node, "-e", _MEDPLUM_VALIDATE],
        input=json.dumps(bundles).encode(),
        capture_output=True,
        check=True,
    )
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_an_unnamed_sender_is_unknown_in_the_provenance_not_invented(version):
    text = sample("adt-a03-discharge-hf.hl7").decode()
    fields = text.split("\r", 1)[0].split("|")
    fields[2] = fields[3] = ""  # MSH-3 and MSH-4
    anonymous = "|".join(fields) + "\r" + text.split("\r", 1)[1]
    bundle = convert(anonymous, fhir_version=version, profile=CHICAGO, validate=True)
    provenance = bundle["entry"][-1]["resource"]
    who = provenance["agent"][0]["who"]
    assert set(who) == {"extension"}
    assert who["extension"][0]["valueCode"] == "unknown"


def test_a_payer_sent_as_text_alone_is_named_not_a_crash():
    text = sample("ref-i12-cardiology-consult.hl7").decode()
    aut = next(line for line in text.split("\r") if line.startswith("AUT|"))
    fields = aut.split("|")
    fields[2] = "^Prairie State Health Plan"  # AUT-2 with text and no code
    fields[3] = ""  # no AUT-3 company name
    bundle = convert(text.replace(aut, "|".join(fields)), profile=CHICAGO, validate=True)
    (response,) = resources(bundle, "ClaimResponse")
    assert response["insurer"]["display"] == "Prairie State Health Plan"


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_adt_obx_become_observations_of_the_patient(version):
    bundle = convert(
        sample("adt-a01-admit.hl7"), fhir_version=version, profile=CHICAGO, validate=True
    )
    height, weight = resources(bundle, "Observation")
    assert height["code"]["coding"][0]["code"] == "8302-2"
    assert height["valueQuantity"] == {
        "value": 165,
        "unit": "cm",
        "system": "http://unitsofmeasure.org",
        "code": "cm",
    }
    assert height["effectiveDateTime"] == "2026-11-18T14:30:00-06:00"
    assert height["category"][0]["coding"][0]["code"] == "vital-signs"
    assert weight["valueQuantity"]["value"] == 94.2
    for observation in (height, weight):
        assert resolve(bundle, observation["subject"])["resourceType"] == "Patient"
    assert unresolved_references(bundle) == []
