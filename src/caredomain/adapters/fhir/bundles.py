"""FHIR Bundles of converted resources: transaction or message, with the source's Provenance.

`assemble` puts the resources converted from one message into one Bundle:

* every entry has a ``urn:uuid:`` fullUrl derived from its resource's type and stable id
  (`full_url`), so the same message always gives the same Bundle;
* every literal reference ``Type/id`` to a resource of the Bundle is rewritten to that
  resource's fullUrl, so that it resolves inside the Bundle (FHIR R4 3.1.0.2 "Resolving
  references in Bundles"); a literal reference to a resource that is not in the Bundle is
  turned into a logical one (its ``type``, ``identifier`` and ``display`` are kept), because
  a transaction whose reference points at nothing fails on the server;
* a `Provenance` (`SourceMessage.provenance`) says where it all came from: ``entity`` the
  source message (its MSH-10 control id, or the message itself as a ``Binary``),
  ``agent`` the sender (MSH-3 sending application, on behalf of MSH-4 sending facility),
  ``recorded`` MSH-7, ``activity`` the trigger event (HL7 table 0003), ``target`` every
  resource converted;
* ``transaction`` (the default): each entry has a ``request`` (see `request_for`); a
  ``message``: a ``MessageHeader`` first (FHIR R4 bdl-12), no requests (bdl-3).

Rules of this module:

1. Pure functions over JSON-ready dicts: no fhir.resources, no I/O; the resources given are
   not changed (references are rewritten in copies), unless `assemble` is told it may
   (``copy=False``, as `caredomain.adapters.convert` does with the resources it just wrote).
2. The PUT/POST choice is `request_for`'s, in one place: Patient and Practitioner are
   created conditionally by identifier, because the server usually knows them already under
   its own ids; every other resource has an id that caredomain derives from the message's
   business identifiers (visit number, placer/filler numbers, MSH-10...), so PUT to that id
   makes sending the same message twice, or an update after an admit, idempotent.
3. Nothing from the message's content appears in an error.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote

import attrs
from pendulum import DateTime

from caredomain.adapters.fhir._elements import DATA_ABSENT_REASON, absent, write_datetime
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.core.codes import hl7_v2_table
from caredomain.core.errors import ValidationError
from caredomain.core.identity import stable_id

__all__ = [
    "CONDITIONAL_CREATE",
    "HL7V2_MEDIA_TYPE",
    "BundleKind",
    "SourceMessage",
    "assemble",
    "full_url",
    "request_for",
    "unresolved_references",
]

CONDITIONAL_CREATE: Final = frozenset({"Patient", "Practitioner"})
"""Resource types created with ``POST`` and ``ifNoneExist`` on their first identifier."""

HL7V2_MEDIA_TYPE: Final = "x-application/hl7-v2+er7"
"""The media type of an ER7 message held in a ``Binary`` (as HL7's v2 over HTTP uses it)."""

# HL7 table 0003 (event type), the code system the v2-to-FHIR IG uses for
# MessageHeader.eventCoding and Provenance.activity ("MSH[MessageHeader]", "MSH[Provenance]").
_EVENT_SYSTEM: Final = hl7_v2_table(3)
# THO provenance-participant-type: "author" for the system that wrote the message.
_PARTICIPANT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
# RFC 3986 URIs as identifier values (FHIR R4 "Identifier": urn:ietf:rfc:3986).
_URI_SYSTEM: Final = "urn:ietf:rfc:3986"
# Resources that are about the conversion itself, not converted content: no Provenance target.
_ABOUT_THE_MESSAGE: Final = frozenset({"Provenance", "MessageHeader", "Binary"})


class BundleKind(StrEnum):
    """The Bundle type `assemble` writes (FHIR ``bundle-type``)."""

    TRANSACTION = "transaction"
    MESSAGE = "message"


def _hd_system(universal_id: str, universal_id_type: str) -> str | None:
    # HD-2/HD-3 (HL7 v2.5.1 2.A.33): an ISO OID is urn:oid:, a URI is itself (v2-to-FHIR IG
    # "HD[Device]", "HD[Organization]": identifier.system from HD-2 when HD-3 is ISO/URI).
    kind = universal_id_type.strip().upper()
    if not universal_id:
        return None
    if kind == "ISO":
        return f"urn:oid:{universal_id}"
    if kind in ("URI", "URL"):
        return universal_id
    return None


@attrs.frozen
class SourceMessage:
    """What a Bundle says about the HL7 v2 message it was converted from (its MSH).

    Attributes:
        control_id: MSH-10, the message control id.
        message_type: MSH-9.1 (``"ADT"``).
        trigger: MSH-9.2 (``"A03"``).
        sent_at: MSH-7, the message date/time, aware; the Provenance's ``recorded``.
        sending_application: MSH-3.1 (HD namespace id).
        sending_application_system: The identifier system of MSH-3 (``urn:oid:`` of
            MSH-3.2 when MSH-3.3 is ISO), if any.
        sending_facility: MSH-4.1.
        sending_facility_system: The identifier system of MSH-4, if any.
        receiving_application: MSH-5.1.
        receiving_facility: MSH-6.1.
        raw: The message itself; when given, the Provenance's entity is a ``Binary`` that
            holds it (base64), otherwise the control id as an identifier.
    """

    control_id: str
    message_type: str
    trigger: str
    sent_at: DateTime | None = None
    sending_application: str | None = None
    sending_application_system: str | None = None
    sending_facility: str | None = None
    sending_facility_system: str | None = None
    receiving_application: str | None = None
    receiving_facility: str | None = None
    raw: bytes | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_msh(
        cls,
        values: Mapping[int, Sequence[str]],
        *,
        sent_at: DateTime | None,
        raw: bytes | None = None,
    ) -> SourceMessage:
        """Build from MSH fields given as ``{field: (component 1, component 2, ...)}``.

        Fields read: 3, 4, 5, 6 (HD), 9 (MSG) and 10.
        """

        def part(field: int, component: int) -> str:
            components = values.get(field, ())
            return components[component - 1].strip() if len(components) >= component else ""

        return cls(
            control_id=part(10, 1),
            message_type=part(9, 1),
            trigger=part(9, 2),
            sent_at=sent_at,
            sending_application=part(3, 1) or part(3, 2) or None,
            sending_application_system=_hd_system(part(3, 2), part(3, 3)),
            sending_facility=part(4, 1) or part(4, 2) or None,
            sending_facility_system=_hd_system(part(4, 2), part(4, 3)),
            receiving_application=part(5, 1) or part(5, 2) or None,
            receiving_facility=part(6, 1) or part(6, 2) or None,
            raw=raw,
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """Sender application, sender facility, control id: unique per message (HL7 2.14)."""
        return (self.sending_application or "", self.sending_facility or "", self.control_id)

    @property
    def event(self) -> str:
        """``TYPE^TRIGGER`` as sent (``ADT^A03``)."""
        return f"{self.message_type}^{self.trigger}" if self.trigger else self.message_type

    def _endpoint(self, application: str | None, facility: str | None) -> str:
        # FHIR requires an endpoint URI (R4 MessageHeader.source.endpoint is 1..1) that HL7
        # v2 does not have: a urn:uuid stable over the application and facility names.
        return f"urn:uuid:{stable_id('hl7v2-endpoint', application or '', facility or '')}"

    def binary(self) -> dict[str, Any] | None:
        """The message as a FHIR ``Binary`` (``raw`` base64-encoded), or None without it."""
        if self.raw is None:
            return None
        return {
            "resourceType": "Binary",
            "id": stable_id("Binary", *self.key),
            "contentType": HL7V2_MEDIA_TYPE,
            "data": base64.b64encode(self.raw).decode("ascii"),
        }

    def provenance(self, targets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The Provenance of ``targets`` (resources of the Bundle) from this message.

        Raises:
            ValidationError: No MSH-7 (FHIR R4 Provenance.recorded is required).
        """
        if self.sent_at is None:
            raise ValidationError.at("MSH-7", "a message date/time for Provenance.recorded")
        who: dict[str, Any]
        on_behalf: dict[str, Any] | None = None
        application = _logical("Device", self.sending_application, self.sending_application_system)
        facility = _logical("Organization", self.sending_facility, self.sending_facility_system)
        if application is not None:
            who, on_behalf = application, facility
        elif facility is not None:
            who = facility
        else:
            who = absent()  # MSH-3 and MSH-4 not sent: the sender is unknown
        agent: dict[str, Any] = {
            "type": {"coding": [{"system": _PARTICIPANT_TYPE, "code": "author"}]},
            "who": who,
        }
        if on_behalf is not None:
            agent["onBehalfOf"] = on_behalf
        binary = self.binary()
        what: dict[str, Any]
        if binary is not None:
            what = {"reference": f"Binary/{binary['id']}"}
        else:
            if self.control_id:
                identifier: dict[str, Any] = {"value": self.control_id}
                if self.sending_application_system is not None:
                    identifier["system"] = self.sending_application_system
                what = {"identifier": identifier}
            else:  # MSH-10 not sent: nothing identifies the message
                what = absent()
        what["display"] = f"HL7 v2 {self.event} message {self.control_id}".rstrip()
        resource: dict[str, Any] = {
            "resourceType": "Provenance",
            "id": stable_id("Provenance", *self.key),
            "target": [
                {"reference": f"{t['resourceType']}/{t['id']}"}
                for t in targets
                if t["resourceType"] not in _ABOUT_THE_MESSAGE
            ],
            "recorded": write_datetime(self.sent_at),
        }
        if self.trigger:
            resource["activity"] = {"coding": [{"system": _EVENT_SYSTEM, "code": self.trigger}]}
        resource["agent"] = [agent]
        resource["entity"] = [{"role": "source", "what": what}]
        return resource

    def message_header(
        self, focus: Sequence[Mapping[str, Any]], version: FhirVersion
    ) -> dict[str, Any]:
        """The MessageHeader of a ``message`` Bundle (IG "MSH[MessageHeader]")."""
        endpoint = "endpoint" if version is FhirVersion.R4 else "endpointUrl"
        source: dict[str, Any] = {}
        if self.sending_application:
            source["name"] = self.sending_application
        source[endpoint] = self._endpoint(self.sending_application, self.sending_facility)
        header: dict[str, Any] = {
            "resourceType": "MessageHeader",
            "id": stable_id("MessageHeader", *self.key),
            "eventCoding": {"system": _EVENT_SYSTEM, "code": self.trigger or self.message_type},
        }
        if self.receiving_application or self.receiving_facility:
            destination: dict[str, Any] = {}
            if self.receiving_application:
                destination["name"] = self.receiving_application
            destination[endpoint] = self._endpoint(
                self.receiving_application, self.receiving_facility
            )
            header["destination"] = [destination]
        sender = _logical("Organization", self.sending_facility, self.sending_facility_system)
        if sender is not None:
            header["sender"] = sender
        header["source"] = source
        if focus:
            header["focus"] = [{"reference": f"{f['resourceType']}/{f['id']}"} for f in focus]
        return header


def _logical(kind: str, name: str | None, system: str | None) -> dict[str, Any] | None:
    """A logical reference to a v2 application or facility (HD): its type and identifier."""
    if not name:
        return None
    identifier: dict[str, Any] = {"value": name}
    if system is not None:
        identifier["system"] = system
    return {"type": kind, "identifier": identifier, "display": name}


def full_url(resource_type: str, resource_id: str) -> str:
    """The ``urn:uuid:`` fullUrl of a resource in a Bundle: the same for the same type and id.

    >>> full_url("Patient", "1") == full_url("Patient", "1")
    True
    """
    return f"urn:uuid:{stable_id('Bundle.entry.fullUrl', resource_type, resource_id)}"


def _search_token(text: str) -> str:
    # FHIR R4 3.1.1.5.7 "Escaping search parameters": \ , $ | are escaped with a backslash,
    # then the value is percent-encoded for the query string (RFC 3986 3.4).
    for char in ("\\", ",", "$", "|"):
        text = text.replace(char, f"\\{char}")
    return quote(text, safe=":/")


def request_for(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The transaction ``request`` for a resource (module rule 2).

    * Patient and Practitioner (`CONDITIONAL_CREATE`) with an identifier: ``POST`` with
      ``ifNoneExist: identifier=system|value`` of the first identifier that has a system
      (else ``identifier=value`` of the first), so that a patient the server knows is
      matched rather than duplicated (FHIR R4 3.1.0.8 "Conditional create").
    * Everything else, and a Patient or Practitioner without an identifier: ``PUT
      Type/id`` with caredomain's stable id (an update that creates when absent: FHIR R4
      3.1.0.4.2 "Update as create").
    """
    kind = resource["resourceType"]
    if kind in CONDITIONAL_CREATE:
        identifiers = [i for i in resource.get("identifier", ()) if i.get("value")]
        chosen = next((i for i in identifiers if i.get("system")), None)
        if chosen is None and identifiers:
            chosen = identifiers[0]
        if chosen is not None:
            token = _search_token(chosen["value"])
            if chosen.get("system"):
                token = f"{_search_token(chosen['system'])}|{token}"
            return {"method": "POST", "url": kind, "ifNoneExist": f"identifier={token}"}
    return {"method": "PUT", "url": f"{kind}/{resource['id']}"}


def _resolve(ref: dict[str, Any], urls: Mapping[str, str]) -> None:
    literal = ref["reference"]
    if literal.startswith(("#", "urn:")):
        return
    url = urls.get(literal)
    if url is not None:
        ref["reference"] = url
        return
    # Not in the Bundle: a logical reference (FHIR R4 2.3.0 "Logical references").
    kind, _, _ = literal.partition("/")
    del ref["reference"]
    ref.setdefault("type", kind)
    if "identifier" not in ref and "display" not in ref:
        # R5 ref-2 asks for reference, identifier or display, or an extension.
        ref["extension"] = [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}]


def _rewritten(node: Any, urls: Mapping[str, str]) -> Any:
    """A copy of a JSON value (dicts and lists copied) with its references resolved."""
    if type(node) is dict:
        out = {
            k: _rewritten(v, urls) if type(v) is dict or type(v) is list else v
            for k, v in node.items()
        }
        if type(out.get("reference")) is str:
            _resolve(out, urls)
        return out
    return [_rewritten(v, urls) if type(v) is dict or type(v) is list else v for v in node]


def _rewrite_in_place(node: Any, urls: Mapping[str, str]) -> None:
    """`_rewritten` without the copy, for resources the caller hands over."""
    if type(node) is dict:
        for value in node.values():
            if type(value) is dict or type(value) is list:
                _rewrite_in_place(value, urls)
        if type(node.get("reference")) is str:
            _resolve(node, urls)
    else:
        for value in node:
            if type(value) is dict or type(value) is list:
                _rewrite_in_place(value, urls)


def _unique(resources: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The resources, each (type, id) once: the first wins."""
    seen: set[tuple[str, str]] = set()
    out = []
    for resource in resources:
        key = (resource["resourceType"], resource["id"])
        if key not in seen:
            seen.add(key)
            out.append(resource)
    return out


def assemble(
    resources: Iterable[Mapping[str, Any]],
    *,
    source: SourceMessage,
    kind: BundleKind | str = BundleKind.TRANSACTION,
    version: FhirVersion | str = FhirVersion.R4,
    focus: Sequence[Mapping[str, Any]] = (),
    copy: bool = True,
) -> dict[str, Any]:
    """Put converted resources into one Bundle (see the module docstring).

    Args:
        resources: The resources, each with ``resourceType`` and ``id``; a (type, id) given
            twice is kept once (the first).
        source: The message they come from (Provenance, MessageHeader).
        kind: ``transaction`` or ``message``.
        version: ``R4`` or ``R5`` (the MessageHeader's endpoint element differs).
        focus: The resources the message is about (``MessageHeader.focus``).
        copy: Leave ``resources`` unchanged (the default); ``False`` hands them over: the
            Bundle holds them, with their references rewritten in place (faster).

    Returns:
        The Bundle as a JSON-ready dict. In a transaction, conditionally created resources
        (Patient, Practitioner) carry no ``id`` (the server assigns it); every other
        resource keeps its id, which its ``PUT`` url names.

    Raises:
        ValidationError: An unknown kind or version, or no MSH-7 for the Provenance.
    """
    try:
        bundle_kind = BundleKind(kind)
    except ValueError:
        raise ValidationError.at("bundle", "expected transaction or message") from None
    release = FhirVersion.of(version)
    content = _unique(resources)
    extra: list[Mapping[str, Any]] = []
    binary = source.binary()
    if binary is not None:
        extra.append(binary)
    extra.append(source.provenance(content))
    if bundle_kind is BundleKind.MESSAGE:
        content.insert(0, source.message_header(focus, release))
    content.extend(extra)
    urls = {f"{r['resourceType']}/{r['id']}": full_url(r["resourceType"], r["id"]) for r in content}
    entries = []
    for original in content:
        if copy:
            resource: dict[str, Any] = _rewritten(dict(original), urls)
        else:
            resource = original  # type: ignore[assignment]  # handed over by the caller
            _rewrite_in_place(resource, urls)
        entry: dict[str, Any] = {"fullUrl": urls[f"{resource['resourceType']}/{resource['id']}"]}
        entry["resource"] = resource
        if bundle_kind is BundleKind.TRANSACTION:
            request = request_for(resource)
            if request["method"] == "POST":
                del resource["id"]  # the server assigns it (FHIR R4 3.1.0.11.2, create)
            entry["request"] = request
        entries.append(entry)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "identifier": {
            "system": _URI_SYSTEM,
            "value": f"urn:uuid:{stable_id('Bundle', bundle_kind.value, *source.key)}",
        },
        "type": bundle_kind.value,
    }
    if source.sent_at is not None:
        bundle["timestamp"] = write_datetime(source.sent_at)
    bundle["entry"] = entries
    return bundle


def unresolved_references(bundle: Mapping[str, Any]) -> list[str]:
    """Locations of references that do not resolve inside the Bundle.

    A ``urn:uuid:``/``urn:oid:`` reference must be the fullUrl of an entry; a relative
    ``Type/id`` reference must match an entry's fullUrl or its resource's type and id
    (FHIR R4 3.1.0.2). Contained (``#id``) and absolute ``http(s)`` references, and logical
    references (no ``reference``), are not checked. Returns FHIRPath-like locations
    (``Bundle.entry[2].resource.subject``), never values.
    """
    entries = bundle.get("entry") or []
    known: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        if isinstance(entry.get("fullUrl"), str):
            known.add(entry["fullUrl"])
        resource = entry.get("resource")
        if isinstance(resource, Mapping) and "id" in resource:
            known.add(f"{resource.get('resourceType')}/{resource['id']}")
    problems = []
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        for path, literal in _located_references(resource, f"Bundle.entry[{n}].resource"):
            if literal.startswith(("#", "http://", "https://")):
                continue
            if literal not in known:
                problems.append(path)
    return problems


def _located_references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(location, reference) of every Reference-shaped dict under ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node["reference"]
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _located_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            if isinstance(value, dict | list):
                yield from _located_references(value, f"{path}[{n}]")
