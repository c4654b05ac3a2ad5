"""FHIR R4 export of care-plan templates and plans, the way ``PlanDefinition/$apply`` does it.

* `template_to_plan_definition` writes a `Template` as a PlanDefinition: its sources as
  ``relatedArtifact`` citations, its goals in ``PlanDefinition.goal`` (targets as
  ``detailQuantity``/``detailRange`` with a relative ``due``), and one action per activity
  whose ``definitionCanonical`` names the ActivityDefinition `activity_definitions` writes.
* `care_plan_to_fhir` writes an instantiated `CarePlan` as a CarePlan (``instantiatesCanonical``
  the PlanDefinition) and its Goals, as ``$apply`` would create them.

Rules of this module:

1. Plain JSON-ready dicts out (numbers as ``int``/``float``, datetimes RFC 3339 with offset),
   built directly: this module never imports fhir.resources. Tests validate every resource
   with `caredomain.adapters.fhir.validate` (R4, through fhir.resources' R4B models).
2. Canonical URLs are ``{base_url}/PlanDefinition/{name}`` and
   ``{base_url}/ActivityDefinition/{name}-{activity}``, versioned ``|{version}``; the default
   base is `CANONICAL_BASE`. The PlanDefinition's id is the template's name.
3. Values are a template's *current* parameter values: export
   ``template.with_overrides({...})`` to publish a variant. Monitoring rules have no R4
   PlanDefinition element and are not exported.

Mappings, and where FHIR R4 cannot say what caredomain says:

* Activity kinds become request resources (`RESOURCE_KINDS`): measurement, lab, referral and
  home visit a ``ServiceRequest``; appointment an ``Appointment``; education a
  ``CommunicationRequest``; medication a ``MedicationRequest``; equipment delivery a
  ``DeviceRequest``.
* A one-sided target (``< 7 %``) is a ``detailQuantity`` with a ``comparator``; a two-sided
  one a ``detailRange``, whose bounds FHIR reads as inclusive (an exclusive bound is lost).
* ``Timing`` "every N units" is ``Timing.repeat`` ``frequency``/``period``/``periodUnit``;
  "once within" is ``repeat.count = 1`` with ``boundsDuration`` (in a plan, ``boundsPeriod``
  from the plan's start). A window in business days has no FHIR duration: it is written as
  ``Timing.code.text`` ("within 2 business days after the start").
* R4 ``CarePlan.addresses`` is a Reference: the plan's condition codes become contained
  ``Condition`` resources, referenced ``#condition-N``.
* R4 Goal has no citation element: ``Goal.source`` becomes a ``Goal.note``.
* The plan's period ``[start, end)`` is a ``Period``; FHIR does not say whether ``end`` is
  included.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal
from typing import Any, Final

from caredomain.careplans.model import (
    MEASURES,
    Activity,
    ActivityKind,
    CarePlan,
    Goal,
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
from caredomain.core.identity import Reference
from caredomain.core.quantities import Quantity

__all__ = [
    "CANONICAL_BASE",
    "RESOURCE_KINDS",
    "activity_definitions",
    "care_plan_to_fhir",
    "template_to_plan_definition",
]

CANONICAL_BASE: Final = "https://caredomain.dev/fhir"
"""The default base of the canonical URLs of exported PlanDefinitions and ActivityDefinitions."""

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
                    {"addresses": [_concept(c) for c in template.addresses]}
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
        resource["code"] = _concept(activity.code)
    resource["timingTiming"] = _template_timing(activity.timing)
    return resource


def _action(template: Template, activity: ActivityTemplate, base_url: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "id": activity.id,
        "title": activity.description or activity.id,
        "documentation": [_citation(template, activity.source)],
    }
    if activity.code is not None:
        action["code"] = [_concept(activity.code)]
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
    plan: CarePlan, goals_as_resources: bool = True, *, base_url: str = CANONICAL_BASE
) -> list[dict[str, Any]]:
    """The plan as a FHIR R4 CarePlan and its Goals, as ``PlanDefinition/$apply`` creates them.

    Args:
        plan: The plan.
        goals_as_resources: Whether the goals are separate Goal resources after the CarePlan
            (referenced ``Goal/{id}``) or contained in it (referenced ``#{id}``).
        base_url: The base of the canonical URL of the template's PlanDefinition.

    Returns:
        ``[CarePlan, Goal, ...]``, or ``[CarePlan]`` with the goals contained.
    """
    subject = _reference(plan.patient)
    goals = [_goal(goal, subject) for goal in plan.goals]
    contained: list[dict[str, Any]] = [] if goals_as_resources else list(goals)
    resource: dict[str, Any] = {"resourceType": "CarePlan", "id": plan.id, "contained": contained}
    if plan.template:
        name, _, version = plan.template.partition("|")
        canonical = f"{base_url}/PlanDefinition/{name}"
        resource["instantiatesCanonical"] = [f"{canonical}|{version}" if version else canonical]
    resource.update({"status": plan.status.value, "intent": "plan", "title": plan.title})
    resource["subject"] = subject
    if plan.period is not None:
        resource["period"] = {
            "start": plan.period.start.isoformat(),
            "end": plan.period.end.isoformat(),
        }
    if plan.care_team:
        teams = [r for r in plan.care_team if r.target == "CareTeam"]
        others = [r for r in plan.care_team if r.target != "CareTeam"]
        if teams:
            resource["careTeam"] = [_reference(r) for r in teams]
        if others:
            resource["contributor"] = [_reference(r) for r in others]
    if plan.addresses:
        conditions = [
            {
                "resourceType": "Condition",
                "id": f"condition-{number}",
                "code": _concept(concept),
                "subject": subject,
            }
            for number, concept in enumerate(plan.addresses, start=1)
        ]
        contained.extend(conditions)
        resource["addresses"] = [{"reference": f"#{c['id']}"} for c in conditions]
    prefix = "Goal/" if goals_as_resources else "#"
    if plan.goals:
        resource["goal"] = [{"reference": f"{prefix}{g.id}"} for g in plan.goals]
    if plan.activities:
        resource["activity"] = [_activity(plan, a, prefix) for a in plan.activities]
    if not contained:
        del resource["contained"]
    return [resource, *goals] if goals_as_resources else [resource]


def _goal(goal: Goal, subject: dict[str, Any]) -> dict[str, Any]:
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
        resource["startDate"] = goal.start.isoformat()
    resource["target"] = [
        {
            "measure": _measure(target),
            **_detail(target),
            **({"dueDate": goal.due.isoformat()} if goal.due is not None else {}),
        }
        for target in goal.targets
    ]
    if goal.source:
        resource["note"] = [{"text": f"Source: {goal.source}"}]
    return resource


def _activity(plan: CarePlan, activity: Activity, prefix: str) -> dict[str, Any]:
    detail: dict[str, Any] = {"kind": RESOURCE_KINDS[activity.kind]}
    if activity.code is not None:
        detail["code"] = _concept(activity.code)
    measured = _loinc(activity.code)
    supported = [g.id for g in plan.goals if any(t.code == measured for t in g.targets)]
    if supported:
        detail["goal"] = [{"reference": f"{prefix}{g}"} for g in supported]
    detail["status"] = activity.status.value
    detail["scheduledTiming"] = _timing(activity.timing, plan)
    if activity.description:
        detail["description"] = activity.description
    entry: dict[str, Any] = {}
    if activity.evidence:
        entry["outcomeReference"] = [_reference(r) for r in activity.evidence]
    entry["detail"] = detail
    return entry


# --- datatypes ---------------------------------------------------------------------------


def _timing(timing: Timing, plan: CarePlan | None = None) -> dict[str, Any]:
    period = plan.period if plan is not None else None
    if timing.within is not None:
        repeat: dict[str, Any] = {"count": 1}
        if period is not None:
            end = period.start + timing.within
            repeat["boundsPeriod"] = {"start": period.start.isoformat(), "end": end.isoformat()}
        else:
            repeat["boundsDuration"] = _duration(timing.within)
        return {"repeat": repeat}
    repeat = {
        "frequency": timing.frequency,
        "period": timing.period,
        "periodUnit": timing.period_unit,
    }
    if period is not None:
        repeat = {
            "boundsPeriod": {"start": period.start.isoformat(), "end": period.end.isoformat()},
            **repeat,
        }
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


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _quantity(value: Quantity) -> dict[str, Any]:
    return {"value": _number(value.value), "unit": value.unit, "system": UCUM, "code": value.unit}


def _measure(target: Target) -> dict[str, Any]:
    code = target.measured
    return {"coding": [{"system": LOINC, "code": code, "display": MEASURES[code].name}]}


def _detail(target: Target) -> dict[str, Any]:
    low, high = target.low, target.high
    if low is not None and high is not None:
        return {"detailRange": {"low": _quantity(low.value), "high": _quantity(high.value)}}
    if high is not None:
        return {
            "detailQuantity": {
                **_quantity(high.value),
                "comparator": "<=" if high.inclusive else "<",
            }
        }
    assert low is not None  # a Target has at least one bound
    return {
        "detailQuantity": {**_quantity(low.value), "comparator": ">=" if low.inclusive else ">"}
    }


def _concept(concept: CodeableConcept) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if concept.codings:
        codings = []
        for coding in concept.codings:
            item = {"system": coding.system}
            if coding.version:
                item["version"] = coding.version
            item["code"] = coding.code
            if coding.display:
                item["display"] = coding.display
            codings.append(item)
        result["coding"] = codings
    if concept.text:
        result["text"] = concept.text
    return result


def _loinc(concept: CodeableConcept | None) -> str | None:
    if concept is None:
        return None
    return next((c.code for c in concept.codings if c.system == LOINC), None)


def _reference(reference: Reference) -> dict[str, Any]:
    if reference.id is not None:
        result: dict[str, Any] = {"reference": f"{reference.target}/{reference.id}"}
    else:
        result = {"type": reference.target}
    if reference.identifier is not None:
        identifier: dict[str, Any] = {"value": reference.identifier.value}
        if reference.identifier.system:
            identifier = {"system": reference.identifier.system, **identifier}
        result["identifier"] = identifier
    if reference.display:
        result["display"] = reference.display
    return result
