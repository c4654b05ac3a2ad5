"""Requirement checks: for each planned service, what the payer's rules say, and why.

`check` takes a `RulePack`, the planned services, the patient, the coverage and the date
of service, and answers one `Requirement` per line in Da Vinci CRD coverage-information
terms (``covered``, ``pa_needed``, ``doc_needed``, ``info_needed``), with the documents to
send, the rules that decided, a readable explanation and, when prior authorization may be
needed, the decision timeframes of the program (`DecisionWindow`).

Rules of this module (sans-IO: values in, values out; "as of" is the date of service):

1. **The rule of highest precedence among sure matches decides** (precedence and ties:
   `caredomain.authorization.rules`). Other sure matches are listed in ``rules`` and the
   explanation says they were overridden; fallback rules are listed only when they decide.
2. **A rule that may match changes the answer to conditional.** When a rule of higher
   precedence than the decider needs a fact the request lacks (a place of service, a birth
   date, the units used earlier) and would answer differently, every field on which they
   differ becomes ``conditional`` and ``info_needed`` says what to send (CRD crd-ci-q3).
   With no sure match at all, the answer is ``indeterminate``.
3. **Gold carding.** When the deciding rule lists the ordering provider's NPI among its
   exempt providers, prior authorization is ``no-auth``; when the request names no
   ordering provider, it is ``conditional`` on it.
4. **Existing approvals.** When prior authorization is needed, an approval for the same
   code system whose codes match, whose dates contain the date of service (``start`` on or
   before it, ``end`` after it: half-open) and whose units left cover the line's units
   *satisfies* it: ``pa_needed`` is ``satisfied`` and ``satisfied_pa_id`` is its id (CRD
   crd-ci-q5); no PA documents are needed then (crd-ci-q4). A warning says when the
   approval ends before one of the line's scheduled dates, when the line uses its last
   units, or why an approval for the code does not satisfy (dates, units).
5. **The CRD invariants hold for every answer**: ``not-covered`` has no ``pa_needed``
   (crd-ci-q2), ``info_needed`` exactly when something is conditional (q3), the approval
   id exactly when satisfied (q5), a reason with ``OTH`` (q6). `Requirement` refuses
   anything else.
6. **Explanations state rules, not patients.** They name rule ids, codes, patterns, dates
   and the rule's own conditions ("age 65 or over"), never a name or a birth date.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import attrs
from pendulum import Date

from caredomain.authorization.deadlines import DeadlineRule, DecisionDeadline
from caredomain.authorization.rules import (
    PLACE_OF_SERVICE_SETTING,
    CodePattern,
    Covered,
    DocNeeded,
    InfoNeeded,
    LineFacts,
    Match,
    NetworkStatus,
    Outcome,
    PaNeeded,
    PatternKind,
    PriorService,
    Rule,
    RulePack,
    Setting,
    normalize_code,
    system_label,
)
from caredomain.core.codes import ICD_10_CM, Coding, resolve_system
from caredomain.core.errors import ValidationError
from caredomain.core.parties import (
    AdministrativeGender,
    Coverage,
    LineOfBusiness,
    Patient,
    age_on,
)
from caredomain.core.time import format_duration, to_date

__all__ = [
    "Approval",
    "CheckRequest",
    "CheckResult",
    "DecisionWindow",
    "Demographics",
    "PayerPlan",
    "PlannedService",
    "Requirement",
    "ServiceContext",
    "check",
    "check_request",
    "iter_check",
]


# --- inputs ----------------------------------------------------------------------------


def _optional_date(value: _dt.date | None) -> Date | None:
    return None if value is None else to_date(value)


@attrs.frozen
class Demographics:
    """The patient facts rules may use: birth date and sex. Kept out of ``repr``.

    Attributes:
        birth_date: Date of birth (for age on the date of service).
        sex: Administrative gender.
    """

    birth_date: Date | None = attrs.field(default=None, converter=_optional_date, repr=False)
    sex: AdministrativeGender | None = attrs.field(default=None, repr=False)

    @classmethod
    def of(cls, patient: Patient) -> Demographics:
        """The demographics of a `Patient`."""
        return cls(patient.birth_date, patient.sex)

    def age_on(self, day: _dt.date) -> int | None:
        """Whole years of age on ``day`` (``None`` without a birth date)."""
        return None if self.birth_date is None else age_on(self.birth_date, day)


@attrs.frozen
class PayerPlan:
    """Whose rules apply: the payer, and the plan and kind of plan if known.

    Attributes:
        payer: The payer's id as packs name it (``medicare``, ``acme``).
        plan: The plan's name or code.
        line_of_business: Medicare, Medicare Advantage, commercial...
    """

    payer: str
    plan: str | None = None
    line_of_business: LineOfBusiness | None = None

    @classmethod
    def of(cls, coverage: Coverage) -> PayerPlan:
        """The payer and plan of a `Coverage` (its payer reference's id or identifier)."""
        payer = coverage.payer.id
        if payer is None and coverage.payer.identifier is not None:
            payer = coverage.payer.identifier.value
        if payer is None:
            raise ValidationError.at("Coverage.payer", "expected a payer id")
        return cls(payer, coverage.plan, coverage.line_of_business)


def _codings(value: Iterable[Coding] | None) -> tuple[Coding, ...] | None:
    return None if value is None else tuple(value)


def _check_npi(_inst: object, _attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not (len(value) == 10 and value.isdigit()):
        raise ValidationError.at("ordering_provider", "expected a 10-digit NPI")


def _check_pos(_inst: object, _attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and not (len(value) == 2 and value.isdigit()):
        raise ValidationError.at(
            "place_of_service", "expected a two-digit CMS place-of-service code"
        )


@attrs.frozen
class ServiceContext:
    """Where and why the services happen: what rules match besides codes and patient.

    ``None`` means not known: rules that need it answer ``conditional``.

    Attributes:
        setting: The setting; when ``None``, the one the place of service implies.
        place_of_service: The CMS place-of-service code (``"22"``).
        network: Whether the performing provider is in network.
        ordering_provider: The ordering provider's NPI (for gold-card exemptions).
        diagnoses: The diagnoses (ICD-10-CM codes count; others are ignored).
    """

    setting: Setting | None = None
    place_of_service: str | None = attrs.field(default=None, validator=_check_pos)
    network: NetworkStatus | None = None
    ordering_provider: str | None = attrs.field(default=None, validator=_check_npi)
    diagnoses: tuple[Coding, ...] | None = attrs.field(default=None, converter=_codings)

    @property
    def effective_setting(self) -> Setting | None:
        """The setting given, or the one the place of service implies."""
        if self.setting is not None:
            return self.setting
        if self.place_of_service is None:
            return None
        return PLACE_OF_SERVICE_SETTING.get(self.place_of_service)

    def diagnosis_codes(self) -> frozenset[str] | None:
        """The ICD-10-CM codes, normalized (``None`` when diagnoses were not given)."""
        if self.diagnoses is None:
            return None
        return frozenset(
            normalize_code(c.code) for c in self.diagnoses if resolve_system(c.system) == ICD_10_CM
        )


def _dates(value: Iterable[_dt.date]) -> tuple[Date, ...]:
    return tuple(to_date(v) for v in value)


@attrs.frozen
class PlannedService:
    """One service to check (a request line).

    Attributes:
        id: The line's id, echoed in its `Requirement`.
        system: The code system (``"CPT"``, ``"HCPCS"`` or a URI; resolved to the URI).
        code: The service code.
        units: Units asked for (visits, items).
        date_of_service: This line's date, when not the request's.
        prior_units: Units of the same kind already used in the period of a threshold
            rule, counted by the caller (otherwise counted from the request's history).
        scheduled: Dates the units are scheduled on, to warn about approvals ending early.
    """

    id: str
    system: str = attrs.field(converter=resolve_system)
    code: str
    units: int = 1
    date_of_service: Date | None = attrs.field(default=None, converter=_optional_date)
    prior_units: int | None = None
    scheduled: tuple[Date, ...] = attrs.field(default=(), converter=_dates)

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise ValidationError.at("PlannedService.id", "expected a non-empty line id")
        if not normalize_code(self.code):
            raise ValidationError.at("PlannedService.code", "expected a code")
        if isinstance(self.units, bool) or self.units < 1:
            raise ValidationError.at("PlannedService.units", "expected at least one unit")
        if self.prior_units is not None and self.prior_units < 0:
            raise ValidationError.at("PlannedService.prior_units", "expected zero or more")


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen
class Approval:
    """An existing prior authorization that may satisfy a requirement.

    Attributes:
        id: The payer's authorization number (CRD ``satisfied-pa-id``).
        system: The code system of ``codes`` (resolved to its URI).
        codes: Code patterns it covers (``"97110"``, ``"97110-97546"``, ``"L58*"``).
        start: First date it covers.
        end: First date it no longer covers (half-open: an approval "valid through June
            30" has ``end`` July 1).
        units: Units approved (``None``: not limited by units).
        units_used: Units already used.
    """

    id: str
    system: str = attrs.field(converter=resolve_system)
    codes: tuple[str, ...] = attrs.field(converter=_strings)
    start: Date = attrs.field(converter=to_date)
    end: Date = attrs.field(converter=to_date)
    units: int | None = None
    units_used: int = 0
    _patterns: tuple[CodePattern, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.id:
            raise ValidationError.at("Approval.id", "expected the authorization number")
        if self.end <= self.start:
            raise ValidationError.at("Approval.end", "expected end after start (end is exclusive)")
        if (self.units is not None and self.units < 0) or self.units_used < 0:
            raise ValidationError.at("Approval.units", "expected zero or more units")
        try:
            patterns = tuple(CodePattern.parse(c) for c in self.codes)
        except ValidationError:
            raise ValidationError.at(
                "Approval.codes", "expected codes, ranges or prefixes"
            ) from None
        if not patterns:
            raise ValidationError.at("Approval.codes", "expected at least one code")
        object.__setattr__(self, "_patterns", patterns)

    @property
    def units_left(self) -> int | None:
        """Units not yet used (``None``: unlimited)."""
        return None if self.units is None else max(0, self.units - self.units_used)

    def covers_code(self, system: str, code: str) -> bool:
        """Whether the approval is for this service code (normalized)."""
        return system == self.system and any(p.matches(code) for p in self._patterns)


def _lines(value: Iterable[PlannedService]) -> tuple[PlannedService, ...]:
    return tuple(value)


def _approvals(value: Iterable[Approval]) -> tuple[Approval, ...]:
    return tuple(value)


def _history(value: Iterable[PriorService] | None) -> tuple[PriorService, ...] | None:
    return None if value is None else tuple(value)


@attrs.frozen
class CheckRequest:
    """A check request, as ``caredomain authorization check`` reads it from JSON.

    The JSON keys are these attributes' names (``../docs/cli.md``). ``history`` and the
    lines' ``prior_units`` are the units used earlier that threshold rules count; leave
    both out when unknown (a threshold rule then answers conditional), give ``[]`` for
    none.

    Attributes:
        payer: The payer's id.
        date_of_service: The date the check is "as of" (lines may override it).
        lines: The services to check.
        plan: The plan, if known.
        line_of_business: The kind of plan, if known.
        setting: The setting, if known.
        place_of_service: The CMS place-of-service code, if known.
        network: ``in`` or ``out`` of network, if known.
        ordering_provider: The ordering provider's NPI, if known.
        patient: Birth date and sex, if known.
        diagnoses: Diagnoses (``{"system": "ICD-10-CM", "code": ...}``), if known.
        approvals: Existing authorizations.
        history: Earlier services (system, code, date, units), if known.
    """

    payer: str
    date_of_service: Date = attrs.field(converter=to_date)
    lines: tuple[PlannedService, ...] = attrs.field(converter=_lines)
    plan: str | None = None
    line_of_business: LineOfBusiness | None = None
    setting: Setting | None = None
    place_of_service: str | None = attrs.field(default=None, validator=_check_pos)
    network: NetworkStatus | None = None
    ordering_provider: str | None = attrs.field(default=None, validator=_check_npi)
    patient: Demographics | None = None
    diagnoses: tuple[Coding, ...] | None = attrs.field(default=None, converter=_codings)
    approvals: tuple[Approval, ...] = attrs.field(default=(), converter=_approvals)
    history: tuple[PriorService, ...] | None = attrs.field(default=None, converter=_history)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for index, line in enumerate(self.lines):
            if line.id in seen:
                raise ValidationError.at(f"$.lines[{index}].id", "expected unique line ids")
            seen.add(line.id)

    @property
    def coverage(self) -> PayerPlan:
        """The payer and plan."""
        return PayerPlan(self.payer, self.plan, self.line_of_business)

    @property
    def context(self) -> ServiceContext:
        """Setting, place, network, ordering provider and diagnoses."""
        return ServiceContext(
            self.setting,
            self.place_of_service,
            self.network,
            self.ordering_provider,
            self.diagnoses,
        )


# --- outputs ---------------------------------------------------------------------------


@attrs.frozen
class DecisionWindow:
    """How long the payer has to decide, as ISO 8601 durations (the CLI's ``decision_due``).

    Elapsed limits are written as durations: ``PT72H`` (limits under 4 days are written in
    hours, as CMS-0057-F states its expedited timeframe), ``P7D``. A limit counted in
    business days is written ``P5D`` *and* named in `business_days` (``{"standard": 5}``);
    a calendar cap on it ("5 business days, not over 7 calendar days") is in `not_over`.

    Attributes:
        standard: The standard-review limit.
        expedited: The expedited-review limit.
        business_days: The limits counted in business days, by review kind.
        not_over: Elapsed caps on business-day limits, by review kind.
    """

    standard: str
    expedited: str
    business_days: dict[str, int] = attrs.field(factory=dict, hash=False)
    not_over: dict[str, str] = attrs.field(factory=dict, hash=False)

    @classmethod
    def of(cls, deadline: DecisionDeadline) -> DecisionWindow:
        """The window of a program's `DecisionDeadline`."""
        return _window(deadline)


def _iso(value: _dt.timedelta) -> str:
    hour = _dt.timedelta(hours=1)
    if value < _dt.timedelta(days=4) and value % hour == _dt.timedelta(0):
        return f"PT{value // hour}H"
    return format_duration(value)


@functools.lru_cache(maxsize=64)
def _window(deadline: DecisionDeadline) -> DecisionWindow:
    texts: dict[str, str] = {}
    business: dict[str, int] = {}
    caps: dict[str, str] = {}
    rule: DeadlineRule
    for name, rule in (("standard", deadline.standard), ("expedited", deadline.expedited)):
        if rule.business_days is not None:
            texts[name] = f"P{rule.business_days}D"
            business[name] = rule.business_days
            if rule.elapsed is not None:
                caps[name] = _iso(rule.elapsed)
        elif rule.elapsed is not None:
            texts[name] = _iso(rule.elapsed)
    return DecisionWindow(texts["standard"], texts["expedited"], business, caps)


def _doc_codes(value: Iterable[DocNeeded | str]) -> tuple[DocNeeded, ...]:
    return tuple(DocNeeded(v) for v in value)


def _info_codes(value: Iterable[InfoNeeded | str]) -> tuple[InfoNeeded, ...]:
    return tuple(InfoNeeded(v) for v in value)


@attrs.frozen
class Requirement:
    """The answer for one line, in CRD coverage-information terms (module rule 5).

    Attributes:
        id: The line's id.
        covered: CRD ``covered``.
        pa_needed: CRD ``pa-needed`` (``None`` when not covered).
        doc_needed: CRD ``doc-needed`` codes.
        info_needed: CRD ``info-needed`` codes, when something is conditional.
        documents: The documents to send (or that may be needed, when conditional).
        rules: The ids of the rules that decided or may decide, the decider first.
        explanation: The trace, one clause per rule or approval, joined with ``"; "``.
        reason: The reason, in words.
        satisfied_pa_id: The approval that satisfies the requirement (CRD
            ``satisfied-pa-id``).
        warnings: What a coordinator should look at (an approval ending early...).
        decision_due: The decision timeframes when prior authorization is or may be needed.
    """

    id: str
    covered: Covered
    pa_needed: PaNeeded | None
    doc_needed: tuple[DocNeeded, ...] = attrs.field(default=(), converter=_doc_codes)
    info_needed: tuple[InfoNeeded, ...] = attrs.field(default=(), converter=_info_codes)
    documents: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    rules: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    explanation: str = ""
    reason: str | None = None
    satisfied_pa_id: str | None = None
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    decision_due: DecisionWindow | None = None

    def __attrs_post_init__(self) -> None:
        if self.covered is Covered.NOT_COVERED and self.pa_needed is not None:
            raise ValidationError.at(
                "Requirement.pa_needed", "expected none when not-covered (crd-ci-q2)"
            )
        if self.covered is not Covered.NOT_COVERED and self.pa_needed is None:
            raise ValidationError.at(
                "Requirement.pa_needed", "expected pa_needed unless not-covered"
            )
        conditional = (
            self.covered is Covered.CONDITIONAL
            or self.pa_needed is PaNeeded.CONDITIONAL
            or DocNeeded.CONDITIONAL in self.doc_needed
        )
        if conditional != bool(self.info_needed):
            raise ValidationError.at(
                "Requirement.info_needed",
                "expected info_needed exactly when conditional (crd-ci-q3)",
            )
        if (self.pa_needed is PaNeeded.SATISFIED) != (self.satisfied_pa_id is not None):
            raise ValidationError.at(
                "Requirement.satisfied_pa_id",
                "expected an approval id exactly when satisfied (crd-ci-q5)",
            )
        if InfoNeeded.OTH in self.info_needed and not self.reason:
            raise ValidationError.at("Requirement.reason", "expected a reason with OTH (crd-ci-q6)")


def _requirements(value: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(value)


@attrs.frozen
class CheckResult:
    """Every line's requirement, in request order (the CLI prints this as JSON)."""

    lines: tuple[Requirement, ...] = attrs.field(converter=_requirements)


# --- the check -------------------------------------------------------------------------

_NEEDS_PA: Final = frozenset({PaNeeded.AUTH_NEEDED, PaNeeded.PERFORMPA, PaNeeded.CONDITIONAL})
_NO_RULE: Final = Outcome(
    Covered.INDETERMINATE,
    PaNeeded.INDETERMINATE,
    reason="no rule of the pack matches this payer and service",
)


def _describe(match: Match, code: str, system: str, facts: LineFacts | None = None) -> str:
    rule = match.rule
    head = f"rule {rule.id}: {system_label(system)} {code}"
    if rule.system is None or str(match.pattern) == "*":
        head = f"rule {rule.id}: any service"
    elif not (
        match.pattern.kind is PatternKind.EXACT and match.pattern.low == normalize_code(code)
    ):
        head += f" in {match.pattern}"
    if rule.category:
        head += f" ({rule.category})"
    parts = [head, *rule.conditions()]
    if facts is not None and rule.units_over is not None:
        prior = rule.prior_units(facts)
        if prior is not None:
            parts.append(
                f"{prior} unit(s) used earlier in the period + {facts.units} asked = "
                f"{prior + facts.units}"
            )
    out = parts[0] + (", " + ", ".join(parts[1:]) if len(parts) > 1 else "")
    outcome = rule.outcome
    verdict = outcome.covered.value
    if outcome.pa_needed is not None:
        verdict += f", {outcome.pa_needed.value}"
    out += f" -> {verdict}"
    if rule.source:
        out += f" [source: {rule.source}]"
    return out


def _decide(
    line: PlannedService,
    facts: LineFacts,
    matches: list[Match],
    approvals: Sequence[Approval],
    ordering_provider: str | None,
) -> Requirement:
    sure = [m for m in matches if m.sure]
    winner = sure[0] if sure else None
    steps: list[str] = []
    rule_ids: list[str] = []
    outcome = winner.rule.outcome if winner else _NO_RULE
    deciding: Rule | None = winner.rule if winner else None
    if winner is not None:
        steps.append(_describe(winner, line.code, line.system, facts))
        rule_ids.append(winner.rule.id)
        for overridden in sure[1:]:
            if overridden.rule.fallback:
                continue
            rule_ids.append(overridden.rule.id)
            steps.append(
                f"rule {overridden.rule.id} also matches; {winner.rule.id} takes precedence"
            )
    else:
        steps.append(f"no rule matches {system_label(line.system)} {line.code} for this payer")
    covered = outcome.covered
    pa = outcome.pa_needed
    docs = outcome.doc_needed
    info = list(outcome.info_needed)
    documents = list(outcome.documents)
    reasons = [outcome.reason] if outcome.reason else []
    pending_deadline: DecisionDeadline | None = None
    for match in matches:
        if match.sure or (winner is not None and match.key <= winner.key):
            continue
        other = match.rule.outcome
        differs = False
        if other.covered is not outcome.covered:
            covered, differs = Covered.CONDITIONAL, True
        if other.pa_needed is not outcome.pa_needed:
            pa, differs = PaNeeded.CONDITIONAL, True
        if other.doc_needed != outcome.doc_needed:
            docs, differs = (DocNeeded.CONDITIONAL,), True
        if not differs:
            continue
        whats = [m.what for m in match.missing]
        info.extend(m.info for m in match.missing)
        documents.extend(d for d in other.documents if d not in documents)
        rule_ids.append(match.rule.id)
        steps.append(
            f"{_describe(match, line.code, line.system)}; may apply: needs " + ", ".join(whats)
        )
        reasons.append(f"depends on {', '.join(whats)} (rule {match.rule.id})")
        if pending_deadline is None:
            pending_deadline = match.rule.deadline
    if covered is Covered.CONDITIONAL and pa is None:
        pa = PaNeeded.CONDITIONAL
    if covered is Covered.NOT_COVERED:
        pa = None
    # gold carding (module rule 3)
    if (
        deciding is not None
        and deciding.exempt_providers
        and pa
        in (
            PaNeeded.AUTH_NEEDED,
            PaNeeded.PERFORMPA,
        )
    ):
        if ordering_provider is not None and ordering_provider in deciding.exempt_providers:
            pa = PaNeeded.NO_AUTH
            docs, documents = (), []
            steps.append(
                f"ordering provider NPI {ordering_provider} is exempt from rule "
                f"{deciding.id} (gold card): no prior authorization"
            )
        elif ordering_provider is None:
            pa = PaNeeded.CONDITIONAL
            info.append(InfoNeeded.OTH)
            reasons.append("unless the ordering provider is exempt (gold card): send its NPI")
            steps.append(f"rule {deciding.id} exempts some ordering providers; none was named")
    # existing approvals (module rule 4)
    satisfied: str | None = None
    warnings: list[str] = []
    if pa in _NEEDS_PA and approvals:
        satisfied = _satisfy(line, facts, approvals, steps, warnings)
        if satisfied is not None:
            pa = PaNeeded.SATISFIED
            docs, documents = (), []
    conditional = (
        covered is Covered.CONDITIONAL
        or pa is PaNeeded.CONDITIONAL
        or DocNeeded.CONDITIONAL in docs
    )
    if not conditional:
        info = []
    elif not info:
        info = [InfoNeeded.OTH]
    if InfoNeeded.OTH in info and not reasons:
        reasons.append("more information is needed")
    due = None
    if pa in _NEEDS_PA:
        deadline = pending_deadline
        if deciding is not None and outcome.pa_needed in _NEEDS_PA:
            deadline = deciding.deadline or pending_deadline
        if deadline is not None:
            due = _window(deadline)
    return Requirement(
        line.id,
        covered,
        pa,
        docs,
        tuple(dict.fromkeys(info)),
        tuple(documents),
        tuple(rule_ids),
        "; ".join(steps),
        "; ".join(reasons) or None,
        satisfied,
        tuple(warnings),
        due,
    )


def _satisfy(
    line: PlannedService,
    facts: LineFacts,
    approvals: Sequence[Approval],
    steps: list[str],
    warnings: list[str],
) -> str | None:
    dos = facts.date_of_service
    for_code = [a for a in approvals if a.covers_code(facts.system, facts.code)]
    dated = [a for a in for_code if a.start <= dos < a.end]
    fitting = [a for a in dated if a.units_left is None or a.units_left >= line.units]
    for approval in for_code:
        if approval not in dated:
            warnings.append(
                f"approval {approval.id} covers this service from {approval.start.isoformat()} "
                f"until {approval.end.isoformat()} (exclusive), not on the date of service"
            )
        elif approval not in fitting:
            warnings.append(
                f"approval {approval.id} has {approval.units_left} unit(s) left; "
                f"the line asks for {line.units}"
            )
    if not fitting:
        return None
    fitting.sort(key=lambda a: a.id)
    fitting.sort(key=lambda a: a.end, reverse=True)
    chosen = fitting[0]
    left = chosen.units_left
    steps.append(
        f"approval {chosen.id} covers it ({chosen.start.isoformat()} to "
        f"{chosen.end.isoformat()}, exclusive"
        + (f"; {left} unit(s) left" if left is not None else "")
        + ")"
    )
    for day in line.scheduled:
        if day >= chosen.end:
            warnings.append(
                f"approval {chosen.id} ends {chosen.end.isoformat()} (exclusive), before a "
                "scheduled visit"
            )
    if left is not None and left == line.units:
        warnings.append(f"this line uses the last {left} unit(s) of approval {chosen.id}")
    return chosen.id


def iter_check(
    pack: RulePack,
    lines: Iterable[PlannedService],
    patient: Demographics | Patient | None,
    coverage: PayerPlan | Coverage,
    as_of: _dt.date,
    *,
    context: ServiceContext | None = None,
    approvals: Sequence[Approval] = (),
    history: Sequence[PriorService] | None = None,
) -> Iterator[Requirement]:
    """`check`, one requirement at a time.

    The lines of one call are one request: rules with ``billed_with`` look at all of them,
    so a one-pass iterator is read into a list first. Stream long workloads request by
    request.
    """
    if isinstance(patient, Patient):
        patient = Demographics.of(patient)
    if isinstance(coverage, Coverage):
        coverage = PayerPlan.of(coverage)
    context = context or ServiceContext()
    if not isinstance(lines, Sequence):
        lines = list(lines)
    day = to_date(as_of)
    payer = coverage.payer.casefold()
    setting = context.effective_setting
    diagnoses = context.diagnosis_codes()
    history_tuple = None if history is None else tuple(history)
    billed = frozenset((line.system, normalize_code(line.code)) for line in lines)
    sex = patient.sex if patient is not None else None
    ages: dict[_dt.date, int | None] = {}
    approvals = tuple(approvals)
    for line in lines:
        dos = line.date_of_service or day
        age = ages.get(dos, -1)
        if age == -1:
            age = ages[dos] = patient.age_on(dos) if patient is not None else None
        facts = LineFacts(
            payer,
            dos,
            line.system,
            line.code,
            line.units,
            coverage.plan,
            coverage.line_of_business,
            setting,
            context.place_of_service,
            context.network,
            age,
            sex,
            diagnoses,
            billed,
            line.prior_units,
            history_tuple,
        )
        yield _decide(line, facts, pack.matches(facts), approvals, context.ordering_provider)


def check(
    pack: RulePack,
    lines: Iterable[PlannedService],
    patient: Demographics | Patient | None,
    coverage: PayerPlan | Coverage,
    as_of: _dt.date,
    *,
    context: ServiceContext | None = None,
    approvals: Sequence[Approval] = (),
    history: Sequence[PriorService] | None = None,
) -> list[Requirement]:
    """One `Requirement` per line, as of the date of service (module rules 1-6).

    Args:
        pack: The rules (combine several with `RulePack.combine`).
        lines: The planned services.
        patient: Birth date and sex (a `Patient` is read for them), or ``None``.
        coverage: The payer and plan (a `Coverage` is read for them).
        as_of: The date of service; a line's own ``date_of_service`` overrides it.
        context: Setting, place of service, network, ordering provider, diagnoses.
        approvals: Existing authorizations that may satisfy a requirement.
        history: Earlier services, for units thresholds (``None``: not known).
    """
    return list(
        iter_check(
            pack,
            lines,
            patient,
            coverage,
            as_of,
            context=context,
            approvals=approvals,
            history=history,
        )
    )


def check_request(pack: RulePack, request: CheckRequest) -> CheckResult:
    """Answer a `CheckRequest` (what ``caredomain authorization check`` does)."""
    return CheckResult(
        check(
            pack,
            request.lines,
            request.patient,
            request.coverage,
            request.date_of_service,
            context=request.context,
            approvals=request.approvals,
            history=request.history,
        )
    )
