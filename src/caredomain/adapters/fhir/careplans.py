"""Care plans <-> FHIR: PlanDefinition export, and CarePlan and Goal in both directions.

* `template_to_plan_definition` writes a `Template` as a PlanDefinition: its sources as
  ``relatedArtifact`` citations, its goals in ``PlanDefinition.goal`` (targets as
  ``detailQuantity``/``detailRange`` with a relative ``due``), and one action per activity
  whose ``definitionCanonical`` names the ActivityDefinition `activity_definitions` writes.
* `care_plan_to_fhir` writes an instantiated `CarePlan` as a CarePlan (``instantiatesCanonical``
  the PlanDefinition) and its Goals, as ``$apply`` would create them, in R4 or R5;
  `care_plan_from_fhir` reads them back, `goal_to_fhir`/`goal_from_fhir` one Goal.

Rules of this module:

1. Plain JSON-ready dicts out (numbers as ``int``/``float``, datetimes RFC 3339 with their
   own offset), built directly with the ``_elements`` datatypes: this module never imports
   fhir.resources. Tests validate every resource with `caredomain.adapters.fhir.validate`.
2. Canonical URLs are ``{base_url}/PlanDefinition/{name}`` and
   ``{base_url}/ActivityDefinition/{name}-{activity}``, versioned ``|{version}``; the default
   base is `CANONICAL_BASE`. The PlanDefinition's id is the template's name.
3. Values are a template's *current* parameter values: export
   ``template.with_overrides({...})`` to publish a variant. Monitoring rules have no
   PlanDefinition element and are not exported. Templates are exported in R4 only.
4. What is written is read back: ``care_plan_from_fhir(care_plan_to_fhir(p)) == p`` except
   where listed under "Not carried". Problems are located by FHIRPath, never with a value.
   This module must not import ``resources`` (which imports `CANONICAL_BASE` from here): the
   CarePlan and Goal mappings are registered in ``observations``.

Mappings, and where FHIR cannot say what caredomain says:

* Activity kinds become request resources (`RESOURCE_KINDS`): measurement, lab, referral and
  home visit a ``ServiceRequest``; appointment an ``Appointment``; education a
  ``CommunicationRequest``; medication a ``MedicationRequest``; equipment delivery a
  ``DeviceRequest``. Since four kinds share ServiceRequest, the kind itself is caredomain's
  extension `ACTIVITY_KIND` on ``CarePlan.activity``, whose element ``id`` is the
  activity's id. Reading a CarePlan without them, a ServiceRequest whose code is a
  monitored LOINC code is a measurement, any other a referral; activities are numbered
  ``activity-1``...
* A one-sided target (``< 7 %``) is a ``detailQuantity`` with a ``comparator``; a two-sided
  one a ``detailRange``, whose bounds FHIR reads as inclusive (an exclusive bound is lost).
  A target on a panel component (systolic in the blood-pressure panel) has ``measure`` the
  component and the panel in caredomain's extension `TARGET_PANEL`.
* ``Timing`` "every N units" is ``Timing.repeat`` ``frequency``/``period``/``periodUnit``;
  "once within" is ``repeat.count = 1`` with ``boundsDuration`` (in a plan with a period,
  ``boundsPeriod`` from the plan's start, the window added as elapsed time). A window in
  business days has no FHIR duration: it is written as ``Timing.code.text`` ("within 2
  business days after the start").
* R4 ``CarePlan.addresses`` is a Reference: the plan's condition codes become contained
  ``Condition`` resources, referenced ``#condition-N``; R5 made it a CodeableReference, the
  concept itself. ``Goal.addresses`` (a Reference in both) are contained Conditions too: in
  the Goal resource, or beside a contained Goal in the CarePlan (``goal-N-condition-M``:
  contained resources cannot contain others, FHIR dom-2). R5 Conditions need
  ``clinicalStatus``: ``active``.
* Goal has no citation element: ``Goal.source`` becomes a ``Goal.note`` "Source: ...".
* The plan's period ``[start, end)`` is a ``Period``; FHIR does not say whether ``end`` is
  included.
* R5 removed ``CarePlan.activity.detail``: the R4 element travels in its cross-version
  extension `R4_ACTIVITY_DETAIL` (one sub-extension per element: ``kind``, ``code``,
  ``goal``, ``status``, ``scheduled``, ``description``), and R4 ``outcomeReference`` is R5
  ``performedActivity[].reference``.

Not carried (a round trip gives back): an exclusive bound of a two-sided target (inclusive);
the order of ``care_team`` (CareTeam references first, from ``careTeam``, then the others,
from ``contributor``). The Goal resource's ``subject`` is not read (a `Goal` holds none).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from caredomain.adapters.fhir._elements import (
    Problems,
    absent,
    each,
    enum_member,
    items,
    mapping,
    optional,
    read_coding,
    read_concept,
    read_date,
    read_datetime,
    read_interval,
    read_number,
    read_quantity,
    read_reference,
    resource_id,
    string,
    write_concept,
    write_date,
    write_datetime,
    write_interval,
    write_quantity,
    write_reference,
)
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.careplans.model import (
    MEASURES,
    Activity,
    ActivityKind,
    ActivityStatus,
    Bound,
    CarePlan,
    CarePlanStatus,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Target,
    Timing,
)
from caredomain.careplans.templates import ActivityTemplate, Template, Window
from caredomain.core.codes import (
    FHIR_GOAL_ACHIEVEMENT,
    LOINC,
    UCUM,
    CodeableConcept,
)
from caredomain.core.errors import Problem, ValidationError
from caredomain.core.identity import REFERENCE_TARGETS, Reference
from caredomain.core.time import epoch_us

__all__ = [
    "ACTIVITY_KIND",
    "CANONICAL_BASE",
    "R4_ACTIVITY_DETAIL",
    "RESOURCE_KINDS",
    "TARGET_PANEL",
    "activity_definitions",
    "care_plan_from_fhir",
    "care_plan_to_fhir",
    "goal_from_fhir",
    "goal_to_fhir",
    "template_to_plan_definition",
]

CANONICAL_BASE: Final = "https://caredomain.dev/fhir"
"""The default base of the canonical URLs of exported PlanDefinitions and ActivityDefinitions."""

ACTIVITY_KIND: Final = f"{CANONICAL_BASE}/StructureDefinition/activity-kind"
"""caredomain's extension on ``CarePlan.activity``: its `ActivityKind` (``valueCode``), which
``detail.kind`` cannot say (four kinds are ServiceRequests)."""

TARGET_PANEL: Final = f"{CANONICAL_BASE}/StructureDefinition/target-panel"
"""caredomain's extension on ``Goal.target``: the LOINC panel (``valueCoding``) whose
component ``measure`` names (systolic 8480-6 in the blood-pressure panel 85354-9)."""

R4_ACTIVITY_DETAIL: Final = (
    "http://hl7.org/fhir/4.0/StructureDefinition/extension-CarePlan.activity.detail"
)
"""The R4 cross-version extension carrying ``CarePlan.activity.detail`` in R5, which removed
the element (FHIR R5 "Extensions for Converting Between Versions")."""

_SOURCE_NOTE: Final = "Source: "
_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_TEAM: Final = (
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Patient",
    "RelatedPerson",
    "Device",
    "CareTeam",
)
_ANY: Final = tuple(sorted(REFERENCE_TARGETS))

RESOURCE_KINDS: Final[dict[ActivityKind, str]] = {
    ActivityKind.MEASUREMENT: "ServiceRequest",
    ActivityKind.APPOINTMENT: "Appointment",
    ActivityKind.LAB: "ServiceRequest",
    ActivityKind.MEDICATION: "MedicationRequest",
    ActivityKind.EDUCATION: "CommunicationRequest",
    ActivityKind.REFERRAL: "ServiceRequest",
    ActivityKind.EQUIPMENT_DELIVERY: "DeviceRequest",
    ActivityKind.HOME_VISIT: "ServiceRequest",
}
"""The FHIR R4 request resource each activity kind becomes (``ActivityDefinition.kind`` and
``CarePlan.activity.detail.kind``)."""

_PLAN_DEFINITION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
_NOT_NAME: Final = re.compile(r"[^A-Za-z0-9]+")


# --- templates ---------------------------------------------------------------------------


def template_to_plan_definition(
    template: Template, *, base_url: str = CANONICAL_BASE
) -> dict[str, Any]:
    """The template as a FHIR R4 PlanDefinition (a ``clinical-protocol``).

    Args:
        template: The template, at the parameter values to publish.
        base_url: The base of the canonical URLs.

    Returns:
        The PlanDefinition as a JSON-ready dict.
    """
    resource: dict[str, Any] = {
        "resourceType": "PlanDefinition",
        "id": template.name,
        "url": f"{base_url}/PlanDefinition/{template.name}",
        "version": template.version,
        "name": _computable_name(template.name),
        "title": template.title,
        "type": {
            "coding": [
                {
                    "system": _PLAN_DEFINITION_TYPE,
                    "code": "clinical-protocol",
                    "display": "Clinical Protocol",
                }
            ]
        },
        "status": "active",
    }
    if template.description:
        resource["description"] = template.description
    resource["relatedArtifact"] = [_citation(template, s.id, label=True) for s in template.sources]
    if template.goals:
        resource["goal"] = [
            {
                "id": goal.id,
                "description": {"text": goal.description},
                **(
                    {"addresses": [write_concept(c) for c in template.addresses]}
                    if template.addresses
                    else {}
                ),
                "documentation": [_citation(template, goal.source)],
                "target": [
                    {
                        "measure": _measure(target),
                        **_detail(target),
                        **({"due": _duration(goal.due)} if goal.due is not None else {}),
                    }
                    for target in goal.targets
                ],
            }
            for goal in template.goals
        ]
    if template.activities:
        resource["action"] = [_action(template, a, base_url) for a in template.activities]
    return resource


def activity_definitions(
    template: Template, *, base_url: str = CANONICAL_BASE
) -> list[dict[str, Any]]:
    """One FHIR R4 ActivityDefinition per activity of the template, in the template's order.

    Their canonical URLs are the ``definitionCanonical`` of the PlanDefinition's actions.
    """
    return [_activity_definition(template, a, base_url) for a in template.activities]


def _activity_definition(
    template: Template, activity: ActivityTemplate, base_url: str
) -> dict[str, Any]:
    identifier = f"{template.name}-{activity.id}"
    resource: dict[str, Any] = {
        "resourceType": "ActivityDefinition",
        "id": identifier[:64],
        "url": f"{base_url}/ActivityDefinition/{identifier}",
        "version": template.version,
        "name": _computable_name(identifier),
        "title": activity.description or activity.id,
        "status": "active",
        "relatedArtifact": [_citation(template, activity.source)],
        "kind": RESOURCE_KINDS[activity.kind],
    }
    if activity.description:
        resource["description"] = activity.description
    if activity.code is not None:
        resource["code"] = write_concept(activity.code)
    resource["timingTiming"] = _template_timing(activity.timing)
    return resource


def _action(template: Template, activity: ActivityTemplate, base_url: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "id": activity.id,
        "title": activity.description or activity.id,
        "documentation": [_citation(template, activity.source)],
    }
    if activity.code is not None:
        action["code"] = [write_concept(activity.code)]
    measured = _loinc(activity.code)
    supported = [g.id for g in template.goals if any(t.code == measured for t in g.targets)]
    if supported:
        action["goalId"] = supported
    action["timingTiming"] = _template_timing(activity.timing)
    action["definitionCanonical"] = (
        f"{base_url}/ActivityDefinition/{template.name}-{activity.id}|{template.version}"
    )
    return action


def _template_timing(timing: Timing | Window) -> dict[str, Any]:
    if isinstance(timing, Timing):
        return _timing(timing)
    result: dict[str, Any] = {"code": {"text": timing.describe()}, "repeat": {"count": 1}}
    if not timing.business:
        result["repeat"]["boundsDuration"] = _duration(_dt.timedelta(days=timing.days))
    return result


def _citation(template: Template, source_id: str, *, label: bool = False) -> dict[str, Any]:
    source = template.source(source_id)
    artifact: dict[str, Any] = {"type": "citation"}
    if label:
        artifact["label"] = source.id
    artifact["citation"] = source.citation
    if source.url:
        artifact["url"] = source.url
    return artifact


def _computable_name(slug: str) -> str:
    # FHIR's name "should be usable as an identifier" (pattern [A-Z]([A-Za-z0-9_]){0,254}).
    words = [w for w in _NOT_NAME.split(slug) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Template"
    return name if name[0].isalpha() else f"T{name}"


# --- plans -------------------------------------------------------------------------------


def care_plan_to_fhir(
    plan: CarePlan,
    goals_as_resources: bool = True,
    *,
    base_url: str = CANONICAL_BASE,
    version: FhirVersion | str = FhirVersion.R4,
) -> list[dict[str, Any]]:
    """The plan as a FHIR CarePlan and its Goals, as ``PlanDefinition/$apply`` creates them.

    Args:
        plan: The plan.
        goals_as_resources: Whether the goals are separate Goal resources after the CarePlan
            (referenced ``Goal/{id}``) or contained in it (referenced ``#{id}``).
        base_url: The base of the canonical URL of the template's PlanDefinition.
        version: ``"R4"`` (default) or ``"R5"`` (module docstring, "R5").

    Returns:
        ``[CarePlan, Goal, ...]``, or ``[CarePlan]`` with the goals contained.

    Raises:
        ValidationError: The version is unknown.
    """
    release = FhirVersion.of(version)
    subject = write_reference(plan.patient)
    goals = [
        _goal(goal, subject, release, None if goals_as_resources else f"goal-{index}-")
        for index, goal in enumerate(plan.goals, start=1)
    ]
    contained: list[dict[str, Any]] = []
    if not goals_as_resources:
        for goal in goals:
            contained.append(goal)
            contained.extend(goal.pop("_conditions"))
    resource: dict[str, Any] = {"resourceType": "CarePlan", "id": plan.id, "contained": contained}
    if plan.template:
        name, _, template_version = plan.template.partition("|")
        canonical = f"{base_url}/PlanDefinition/{name}"
        resource["instantiatesCanonical"] = [
            f"{canonical}|{template_version}" if template_version else canonical
        ]
    resource.update({"status": plan.status.value, "intent": "plan", "title": plan.title})
    resource["subject"] = subject
    if plan.period is not None:
        resource["period"] = write_interval(plan.period)
    if plan.care_team:
        teams = [r for r in plan.care_team if r.target == "CareTeam"]
        others = [r for r in plan.care_team if r.target != "CareTeam"]
        if teams:
            resource["careTeam"] = [write_reference(r) for r in teams]
        if others:
            resource["contributor"] = [write_reference(r) for r in others]
    if plan.addresses and release is FhirVersion.R5:
        # R5 CarePlan.addresses is a CodeableReference: the concept itself.
        resource["addresses"] = [{"concept": write_concept(c)} for c in plan.addresses]
    elif plan.addresses:
        # R4 CarePlan.addresses is a Reference(Condition): contained Conditions.
        conditions = _conditions(plan.addresses, subject, "condition-")
        contained.extend(conditions)
        resource["addresses"] = [{"reference": f"#{c['id']}"} for c in conditions]
    prefix = "Goal/" if goals_as_resources else "#"
    if plan.goals:
        resource["goal"] = [{"reference": f"{prefix}{g.id}"} for g in plan.goals]
    if plan.activities:
        resource["activity"] = [_activity(plan, a, prefix, release) for a in plan.activities]
    if not contained:
        del resource["contained"]
    for goal in goals:
        conditions = goal.pop("_conditions", [])
        if conditions:
            goal["contained"] = conditions
    return [resource, *goals] if goals_as_resources else [resource]


def goal_to_fhir(
    goal: Goal, patient: Reference | None = None, version: FhirVersion | str = FhirVersion.R4
) -> dict[str, Any]:
    """One `Goal` as a FHIR Goal resource (as `care_plan_to_fhir` writes it).

    Args:
        goal: The goal.
        patient: Its subject (``Goal.subject`` is 1..1; a `Goal` does not hold it): without
            one, the subject carries the data-absent-reason extension.
        version: ``"R4"`` or ``"R5"``.

    Raises:
        ValidationError: The version is unknown.
    """
    subject = write_reference(patient) if patient is not None else absent()
    resource = _goal(goal, subject, FhirVersion.of(version), None)
    conditions = resource.pop("_conditions")
    if conditions:
        resource = {**resource, "contained": conditions}
    return resource


def _conditions(
    concepts: tuple[CodeableConcept, ...],
    subject: dict[str, Any],
    prefix: str,
    version: FhirVersion = FhirVersion.R4,
) -> list[dict[str, Any]]:
    conditions = []
    for number, concept in enumerate(concepts, start=1):
        condition: dict[str, Any] = {"resourceType": "Condition", "id": f"{prefix}{number}"}
        if version is FhirVersion.R5:
            # R5 Condition.clinicalStatus is 1..1: a concern a plan addresses is active.
            condition["clinicalStatus"] = {"coding": [{"system": _CLINICAL, "code": "active"}]}
        condition["code"] = write_concept(concept)
        condition["subject"] = subject
        conditions.append(condition)
    return conditions


def _goal(
    goal: Goal, subject: dict[str, Any], version: FhirVersion, prefix: str | None
) -> dict[str, Any]:
    """The Goal, with its addressed Conditions under ``_conditions`` for the caller to place.

    ``prefix`` is None for a Goal resource (its Conditions contained in it), else the id
    prefix of Conditions contained beside it in the CarePlan (contained resources cannot
    contain others: FHIR dom-2).
    """
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "id": goal.id,
        "lifecycleStatus": goal.lifecycle.value,
    }
    if goal.achievement is not None:
        resource["achievementStatus"] = {
            "coding": [{"system": FHIR_GOAL_ACHIEVEMENT, "code": goal.achievement.value}]
        }
    resource["description"] = {"text": goal.description}
    resource["subject"] = subject
    if goal.start is not None:
        resource["startDate"] = write_date(goal.start)
    resource["target"] = [_target(target, goal.due) for target in goal.targets]
    conditions = _conditions(goal.addresses, subject, prefix or "condition-", version)
    if conditions:
        resource["addresses"] = [{"reference": f"#{c['id']}"} for c in conditions]
    if goal.source:
        resource["note"] = [{"text": f"{_SOURCE_NOTE}{goal.source}"}]
    resource["_conditions"] = conditions
    return resource


def _target(target: Target, due: _dt.date | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if target.component is not None:
        result["extension"] = [
            {"url": TARGET_PANEL, "valueCoding": {"system": LOINC, "code": target.code}}
        ]
    result["measure"] = _measure(target)
    result.update(_detail(target))
    if due is not None:
        result["dueDate"] = write_date(due)
    return result


def _activity(
    plan: CarePlan, activity: Activity, prefix: str, version: FhirVersion
) -> dict[str, Any]:
    detail: dict[str, Any] = {"kind": RESOURCE_KINDS[activity.kind]}
    if activity.code is not None:
        detail["code"] = write_concept(activity.code)
    measured = _loinc(activity.code)
    supported = [g.id for g in plan.goals if any(t.code == measured for t in g.targets)]
    if supported:
        detail["goal"] = [{"reference": f"{prefix}{g}"} for g in supported]
    detail["status"] = activity.status.value
    detail["scheduledTiming"] = _timing(activity.timing, plan)
    if activity.description:
        detail["description"] = activity.description
    entry: dict[str, Any] = {
        "id": activity.id,
        "extension": [{"url": ACTIVITY_KIND, "valueCode": activity.kind.value}],
    }
    if version is FhirVersion.R5:
        # R5 removed CarePlan.activity.detail: the R4 element travels in its cross-version
        # extension (FHIR R5 "Extensions for Converting Between Versions"), one
        # sub-extension per element, named as the element (``scheduled[x]`` as
        # ``scheduled``).
        entry["extension"].append({"url": R4_ACTIVITY_DETAIL, "extension": _detail_parts(detail)})
        if activity.evidence:
            entry["performedActivity"] = [
                {"reference": write_reference(r)} for r in activity.evidence
            ]
        return entry
    if activity.evidence:
        entry["outcomeReference"] = [write_reference(r) for r in activity.evidence]
    entry["detail"] = detail
    return entry


_DETAIL_TYPES: Final = {
    "kind": ("kind", "valueCode"),
    "code": ("code", "valueCodeableConcept"),
    "goal": ("goal", "valueReference"),
    "status": ("status", "valueCode"),
    "scheduledTiming": ("scheduled", "valueTiming"),
    "description": ("description", "valueString"),
}
_DETAIL_KEYS: Final = {url: (key, value) for key, (url, value) in _DETAIL_TYPES.items()}


def _detail_parts(detail: dict[str, Any]) -> list[dict[str, Any]]:
    parts = []
    for key, value in detail.items():
        url, value_key = _DETAIL_TYPES[key]
        for one in value if isinstance(value, list) else [value]:
            parts.append({"url": url, value_key: one})
    return parts


# --- reading -----------------------------------------------------------------------------


def care_plan_from_fhir(
    resource: Mapping[str, Any],
    goals: Iterable[Mapping[str, Any]] = (),
    version: FhirVersion | str = FhirVersion.R4,
) -> CarePlan:
    """Read a CarePlan (and its Goal resources) as a `CarePlan`: `care_plan_to_fhir` reversed.

    Goals referenced ``#{id}`` are read from ``contained``, goals referenced ``Goal/{id}``
    from ``goals``. A plan's template is read from ``instantiatesCanonical``
    (``{base}/PlanDefinition/{name}|{version}``, any base). An activity without caredomain's
    kind extension takes the kind of its request resource (a ServiceRequest measures a
    monitored LOINC code, else it is a referral).

    Args:
        resource: The CarePlan, as parsed JSON.
        goals: The Goal resources referenced ``Goal/{id}``.
        version: ``"R4"`` or ``"R5"``.

    Raises:
        ValidationError: Every problem, located by FHIRPath (``CarePlan.activity[1].detail
            .status``), never with a value.
    """
    release = FhirVersion.of(version)
    if resource.get("resourceType") != "CarePlan":
        raise ValidationError.at("resourceType", "expected CarePlan", subject="CarePlan")
    path = "CarePlan"
    problems = Problems()
    contained = _contained(resource, path, problems)
    by_id = {}
    for index, goal in enumerate(goals):
        if isinstance(goal, Mapping) and isinstance(goal.get("id"), str):
            by_id[goal["id"]] = (f"Goal[{index}]", goal)
    kwargs: dict[str, Any] = {
        "id": resource_id(resource, path, problems),
        "title": string(resource, "title", path, problems, required=True),
        "status": enum_member(resource, "status", path, problems, CarePlanStatus),
        "period": optional(resource, "period", path, problems, read_interval),
    }
    if "subject" in resource:
        kwargs["patient"] = read_reference(
            resource["subject"], f"{path}.subject", problems, ("Patient",)
        )
    else:
        problems.add(f"{path}.subject", "expected a reference to the Patient (required)")
    kwargs["template"] = _template(resource, path, problems)
    kwargs["care_team"] = each(
        resource, "careTeam", path, problems, _reference_to(("CareTeam",))
    ) + each(resource, "contributor", path, problems, _reference_to(_TEAM))
    kwargs["addresses"] = _addresses(resource, path, problems, contained, release)
    read_goals = []
    for where, item in items(resource, "goal", path, problems):
        local = _local(item, where, problems)
        if local is not None:
            target = contained.get(local)
            if target is None or target.get("resourceType") != "Goal":
                problems.add(f"{where}.reference", "expected a contained Goal")
                continue
            goal_path = f"{path}.contained[{list(contained).index(local)}]"
            read_goals.append(_goal_value(target, goal_path, problems, contained))
            continue
        reference = read_reference(item, where, problems, ("Goal",))
        if reference is None:
            continue
        found = by_id.get(reference.id or "")
        if found is None:
            problems.add(where, "expected a Goal passed in goals or contained")
            continue
        read_goals.append(_goal_value(found[1], found[0], problems, None))
    kwargs["goals"] = tuple(g for g in read_goals if g is not None)
    activities = [
        _activity_value(item, where, index, problems, release)
        for index, (where, item) in enumerate(items(resource, "activity", path, problems))
    ]
    kwargs["activities"] = tuple(a for a in activities if a is not None)
    problems.raise_if_any("CarePlan")
    plan: CarePlan = _build(CarePlan, kwargs, path)
    return plan


def goal_from_fhir(
    resource: Mapping[str, Any], version: FhirVersion | str = FhirVersion.R4
) -> Goal:
    """Read a Goal resource as a `Goal` (`goal_to_fhir` reversed; its subject is not read).

    Raises:
        ValidationError: Every problem, located by FHIRPath (``Goal.target[0].measure``).
    """
    FhirVersion.of(version)
    if resource.get("resourceType") != "Goal":
        raise ValidationError.at("resourceType", "expected Goal", subject="Goal")
    problems = Problems()
    goal = _goal_value(resource, "Goal", problems, None)
    problems.raise_if_any("Goal")
    assert goal is not None
    return goal


def _build(cls: Any, kwargs: dict[str, Any], path: str) -> Any:
    try:
        return cls(**kwargs)
    except ValidationError as exc:
        raise ValidationError(
            [Problem(path, p.message) for p in exc.problems], subject=path
        ) from None


def _reference_to(targets: tuple[str, ...]) -> Any:
    def read(data: object, path: str, problems: Problems) -> Reference | None:
        return read_reference(data, path, problems, targets)

    return read


def _contained(
    data: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for where, item in items(data, "contained", path, problems):
        resource = mapping(item, where, problems, "a resource")
        if resource is not None and isinstance(resource.get("id"), str):
            found[resource["id"]] = resource
        elif resource is not None:
            problems.add(f"{where}.id", "expected the id its references use")
    return found


def _local(data: object, path: str, problems: Problems) -> str | None:
    """The id of a local reference ``#id`` (None, and no problem, for any other)."""
    if not isinstance(data, Mapping):
        return None
    reference = data.get("reference")
    if isinstance(reference, str) and reference.startswith("#"):
        if len(reference) == 1:
            problems.add(f"{path}.reference", "expected #id of a contained resource")
            return None
        return reference[1:]
    return None


def _condition(
    data: object, path: str, problems: Problems, contained: Mapping[str, Mapping[str, Any]]
) -> CodeableConcept | None:
    local = _local(data, path, problems)
    target = contained.get(local) if local is not None else None
    if target is None or target.get("resourceType") != "Condition":
        problems.add(path, "expected a reference #id to a contained Condition")
        return None
    if "code" not in target:
        problems.add(f"{path}.reference", "expected a contained Condition with a code")
        return None
    return read_concept(target["code"], f"{path}.reference", problems)


def _addresses(
    data: Mapping[str, Any],
    path: str,
    problems: Problems,
    contained: Mapping[str, Mapping[str, Any]],
    version: FhirVersion,
) -> tuple[CodeableConcept, ...]:
    found = []
    for where, item in items(data, "addresses", path, problems):
        if version is FhirVersion.R5 and isinstance(item, Mapping) and "concept" in item:
            concept = read_concept(item["concept"], f"{where}.concept", problems)
        elif version is FhirVersion.R5 and isinstance(item, Mapping) and "reference" in item:
            concept = _condition(item["reference"], f"{where}.reference", problems, contained)
        else:
            concept = _condition(item, where, problems, contained)
        if concept is not None:
            found.append(concept)
    return tuple(found)


def _template(data: Mapping[str, Any], path: str, problems: Problems) -> str | None:
    where, canonical = next(iter(items(data, "instantiatesCanonical", path, problems)), ("", None))
    if canonical is None:
        return None
    if not isinstance(canonical, str) or "/PlanDefinition/" not in canonical:
        problems.add(where, "expected the canonical URL of a PlanDefinition")
        return None
    name = canonical.rpartition("/PlanDefinition/")[2]
    if not name or name.startswith("|"):
        problems.add(where, "expected the canonical URL of a PlanDefinition")
        return None
    return name


def _goal_value(
    data: Mapping[str, Any],
    path: str,
    problems: Problems,
    container: Mapping[str, Mapping[str, Any]] | None,
) -> Goal | None:
    found = len(problems.items)
    contained = container if container is not None else _contained(data, path, problems)
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "lifecycle": enum_member(data, "lifecycleStatus", path, problems, GoalLifecycle),
        "start": optional(data, "startDate", path, problems, read_date),
    }
    description = mapping(data.get("description"), f"{path}.description", problems, "a concept")
    if description is not None:
        kwargs["description"] = string(description, "text", f"{path}.description", problems)
        if kwargs["description"] is None:
            problems.add(f"{path}.description.text", "expected the goal as text")
    achievement = optional(data, "achievementStatus", path, problems, read_concept)
    if achievement is not None:
        code = achievement.code_in(FHIR_GOAL_ACHIEVEMENT)
        try:
            kwargs["achievement"] = GoalAchievement(code) if code is not None else None
        except ValueError:
            kwargs["achievement"] = None
        if kwargs["achievement"] is None:
            problems.add(f"{path}.achievementStatus", f"expected a {FHIR_GOAL_ACHIEVEMENT} code")
    targets = []
    due = None
    for where, item in items(data, "target", path, problems):
        target = mapping(item, where, problems, "a target")
        if target is None:
            continue
        read = _target_value(target, where, problems)
        if read is not None:
            targets.append(read)
        if due is None:
            due = optional(target, "dueDate", where, problems, read_date)
    kwargs["targets"] = tuple(targets)
    kwargs["due"] = due
    kwargs["addresses"] = tuple(
        c
        for c in (
            _condition(item, where, problems, contained)
            for where, item in items(data, "addresses", path, problems)
        )
        if c is not None
    )
    for where, item in items(data, "note", path, problems):
        note = mapping(item, where, problems, "an Annotation")
        text = string(note, "text", where, problems) if note is not None else None
        if text is not None and text.startswith(_SOURCE_NOTE):
            kwargs["source"] = text.removeprefix(_SOURCE_NOTE) or None
    if len(problems.items) > found:
        return None
    try:
        return Goal(**kwargs)
    except ValidationError as exc:
        problems.items.extend(Problem(f"{path}.target", p.message) for p in exc.problems)
        return None


_LOWER: Final = {">=": True, ">": False}
_UPPER: Final = {"<=": True, "<": False}


def _target_value(data: Mapping[str, Any], path: str, problems: Problems) -> Target | None:
    found = len(problems.items)
    measure = optional(data, "measure", path, problems, read_concept)
    code = measure.code_in(LOINC) if measure is not None else None
    if code is None:
        problems.add(f"{path}.measure", f"expected a {LOINC} coding")
    panel = None
    for where, extension in items(data, "extension", path, problems):
        if isinstance(extension, Mapping) and extension.get("url") == TARGET_PANEL:
            coding = optional(extension, "valueCoding", where, problems, read_coding)
            panel = coding.code if coding is not None else None
    low = high = None
    detail_path = f"{path}.measure"
    if "detailRange" in data:
        detail_path = f"{path}.detailRange"
        bounds = mapping(data["detailRange"], f"{path}.detailRange", problems, "a Range")
        if bounds is not None:
            where = f"{path}.detailRange"
            low_value = optional(bounds, "low", where, problems, read_quantity)
            high_value = optional(bounds, "high", where, problems, read_quantity)
            low = Bound(low_value) if low_value is not None else None
            high = Bound(high_value) if high_value is not None else None
    elif "detailQuantity" in data:
        where = detail_path = f"{path}.detailQuantity"
        value = read_quantity(data["detailQuantity"], where, problems)
        comparator = data["detailQuantity"].get("comparator") if value is not None else None
        if comparator in _LOWER:
            low = Bound(value, _LOWER[comparator]) if value is not None else None
        elif comparator in _UPPER:
            high = Bound(value, _UPPER[comparator]) if value is not None else None
        elif value is not None:
            problems.add(f"{where}.comparator", "expected <, <=, >= or > (a one-sided target)")
    else:
        problems.add(f"{path}.detail[x]", "expected a detailQuantity or a detailRange")
    if len(problems.items) > found or code is None or (low is None and high is None):
        return None
    try:
        if panel is not None:
            return Target(panel, code, low, high)
        return Target(code, None, low, high)
    except ValidationError as exc:
        problems.items.extend(Problem(detail_path, p.message) for p in exc.problems)
        return None


_KIND_OF_RESOURCE: Final = {
    "Appointment": ActivityKind.APPOINTMENT,
    "MedicationRequest": ActivityKind.MEDICATION,
    "CommunicationRequest": ActivityKind.EDUCATION,
    "DeviceRequest": ActivityKind.EQUIPMENT_DELIVERY,
}


def _activity_value(
    data: object, path: str, index: int, problems: Problems, version: FhirVersion
) -> Activity | None:
    entry = mapping(data, path, problems, "an activity")
    if entry is None:
        return None
    found = len(problems.items)
    kind = None
    detail: Mapping[str, Any] | None = None
    detail_path = f"{path}.detail"
    for where, extension in items(entry, "extension", path, problems):
        if not isinstance(extension, Mapping):
            continue
        if extension.get("url") == ACTIVITY_KIND:
            kind = enum_member(extension, "valueCode", where, problems, ActivityKind)
        elif extension.get("url") == R4_ACTIVITY_DETAIL and version is FhirVersion.R5:
            detail, detail_path = _detail_from_parts(extension, where, problems), where
    if version is FhirVersion.R4 and "detail" in entry:
        detail = mapping(entry["detail"], detail_path, problems, "an activity detail")
    if detail is None:
        if len(problems.items) == found:
            where = detail_path if version is FhirVersion.R4 else f"{path}.extension"
            problems.add(where, "expected the activity's detail")
        return None
    code = optional(detail, "code", detail_path, problems, read_concept)
    if kind is None:
        resource_kind = string(detail, "kind", detail_path, problems, required=True)
        kind = _KIND_OF_RESOURCE.get(resource_kind or "")
        if kind is None and resource_kind == "ServiceRequest":
            monitored = _loinc(code) in MEASURES
            kind = ActivityKind.MEASUREMENT if monitored else ActivityKind.REFERRAL
        elif kind is None and resource_kind is not None:
            problems.add(f"{detail_path}.kind", "expected a request resource type")
    status = enum_member(detail, "status", detail_path, problems, ActivityStatus)
    timing = None
    timing_key = "scheduledTiming" if "scheduledTiming" in detail else None
    if timing_key is None:
        problems.add(f"{detail_path}.scheduledTiming", "expected a Timing")
    else:
        timing = _timing_value(detail[timing_key], f"{detail_path}.{timing_key}", problems)
    evidence_key = "outcomeReference" if version is FhirVersion.R4 else "performedActivity"
    evidence = []
    for where, item in items(entry, evidence_key, path, problems):
        if version is FhirVersion.R5:
            item = item.get("reference") if isinstance(item, Mapping) else item
            where = f"{where}.reference"
        reference = read_reference(item, where, problems, _ANY)
        if reference is not None:
            evidence.append(reference)
    description = string(detail, "description", detail_path, problems)
    identifier = entry.get("id")
    if identifier is not None and (not isinstance(identifier, str) or not identifier):
        problems.add(f"{path}.id", "expected a non-empty string")
    if len(problems.items) > found or kind is None or timing is None or status is None:
        return None
    return Activity(
        identifier or f"activity-{index + 1}",
        kind,
        code,
        timing,
        status,
        tuple(evidence),
        description,
    )


def _detail_from_parts(
    extension: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for where, part in items(extension, "extension", path, problems):
        if not isinstance(part, Mapping) or part.get("url") not in _DETAIL_KEYS:
            continue
        key, value_key = _DETAIL_KEYS[part["url"]]
        if value_key not in part:
            problems.add(f"{where}.{value_key}", "expected a value")
        elif key == "goal":
            detail.setdefault(key, []).append(part[value_key])
        else:
            detail[key] = part[value_key]
    return detail


def _timing_value(data: object, path: str, problems: Problems) -> Timing | None:
    timing = mapping(data, path, problems, "a Timing")
    repeat = (
        mapping(timing.get("repeat"), f"{path}.repeat", problems, "a repeat") if timing else None
    )
    if repeat is None:
        return None
    path = f"{path}.repeat"
    if "frequency" in repeat or "period" in repeat:
        frequency = _whole(repeat, "frequency", path, problems, 1)
        period = _whole(repeat, "period", path, problems, 1)
        unit = string(repeat, "periodUnit", path, problems, required=True)
        if frequency is None or period is None or unit is None:
            return None
        try:
            return Timing(frequency, period, unit)
        except ValidationError:
            problems.add(f"{path}.periodUnit", "expected h, d, wk, mo or a, and positive counts")
            return None
    if "boundsDuration" in repeat:
        within = _duration_value(repeat["boundsDuration"], f"{path}.boundsDuration", problems)
    elif "boundsPeriod" in repeat:
        within = _window(repeat["boundsPeriod"], f"{path}.boundsPeriod", problems)
    else:
        problems.add(path, "expected frequency and period, or a count of 1 with bounds")
        return None
    if within is None:
        return None
    if within <= _dt.timedelta(0):
        problems.add(path, "expected a window that ends after it starts")
        return None
    return Timing.once(within)


def _whole(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, default: int
) -> int | None:
    if key not in data:
        return default
    value = read_number(data[key], f"{path}.{key}", problems)
    if value is None:
        return None
    if value != value.to_integral_value() or value < 1:
        problems.add(f"{path}.{key}", "expected a positive whole number")
        return None
    return int(value)


_SECONDS: Final = {"wk": 604_800, "d": 86_400, "h": 3_600, "min": 60, "s": 1}


def _duration_value(data: object, path: str, problems: Problems) -> _dt.timedelta | None:
    duration = mapping(data, path, problems, "a Duration")
    if duration is None:
        return None
    value = read_number(duration.get("value"), f"{path}.value", problems)
    unit = duration.get("code")
    if duration.get("system") != UCUM or unit not in _SECONDS:
        problems.add(f"{path}.code", "expected a UCUM time unit: wk, d, h, min or s")
        return None
    if value is None:
        return None
    return _dt.timedelta(microseconds=int(value * _SECONDS[unit] * 1_000_000))


def _window(data: object, path: str, problems: Problems) -> _dt.timedelta | None:
    """The elapsed time from start to end of a plan-anchored window."""
    period = mapping(data, path, problems, "a Period")
    if period is None:
        return None
    if "start" not in period or "end" not in period:
        problems.add(path, "expected both a start and an end")
        return None
    start = read_datetime(period["start"], f"{path}.start", problems)
    end = read_datetime(period["end"], f"{path}.end", problems)
    if start is None or end is None:
        return None
    # The writer adds the window to the start as elapsed time (pendulum adds a timedelta
    # absolutely), so the elapsed difference gives it back, whatever the offsets.
    return _dt.timedelta(microseconds=epoch_us(end) - epoch_us(start))


# --- datatypes ---------------------------------------------------------------------------


def _timing(timing: Timing, plan: CarePlan | None = None) -> dict[str, Any]:
    period = plan.period if plan is not None else None
    if timing.within is not None:
        repeat: dict[str, Any] = {"count": 1}
        if period is not None:
            end = period.start + timing.within
            repeat["boundsPeriod"] = {
                "start": write_datetime(period.start),
                "end": write_datetime(end),
            }
        else:
            repeat["boundsDuration"] = _duration(timing.within)
        return {"repeat": repeat}
    repeat = {
        "frequency": timing.frequency,
        "period": timing.period,
        "periodUnit": timing.period_unit,
    }
    if period is not None:
        repeat = {"boundsPeriod": write_interval(period), **repeat}
    return {"repeat": repeat}


def _duration(span: _dt.timedelta) -> dict[str, Any]:
    micros = span // _dt.timedelta(microseconds=1)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if micros % (size * 1_000_000) == 0:
            return {
                "value": micros // (size * 1_000_000),
                "unit": unit,
                "system": UCUM,
                "code": unit,
            }
    return {"value": span.total_seconds(), "unit": "s", "system": UCUM, "code": "s"}


def _measure(target: Target) -> dict[str, Any]:
    code = target.measured
    return {"coding": [{"system": LOINC, "code": code, "display": MEASURES[code].name}]}


def _detail(target: Target) -> dict[str, Any]:
    low, high = target.low, target.high
    if low is not None and high is not None:
        return {
            "detailRange": {"low": write_quantity(low.value), "high": write_quantity(high.value)}
        }
    if high is not None:
        return {"detailQuantity": write_quantity(high.value, "<=" if high.inclusive else "<")}
    assert low is not None  # a Target has at least one bound
    return {"detailQuantity": write_quantity(low.value, ">=" if low.inclusive else ">")}


def _loinc(concept: CodeableConcept | None) -> str | None:
    if concept is None:
        return None
    return next((c.code for c in concept.codings if c.system == LOINC), None)
