"""Authorization: prior-authorization cases, their decisions, deadlines and units.

Built so far: the case lifecycle on the core kernel with Da Vinci PAS / X12 278 review
actions, decision deadlines per program (CMS-0057-F, Medicare DMEPOS and OPD) and the
overdue worklist. Payer rule packs and requirement checks follow.

This area imports only `caredomain.core`, never another area or an adapter: a decision
reaches a referral as a value (`AuthorizationCase.status_for_referral`).
"""

from caredomain.authorization.case import (
    AUTHORIZATION_MACHINE,
    REVIEW_ACTION_STATE,
    STATE_REVIEW_ACTION,
    AppealDecided,
    AppealFiled,
    AuthorizationCase,
    AuthorizationExpired,
    CaseCancelled,
    CaseEnteredInError,
    CaseStatus,
    CaseSubmitted,
    Decision,
    DecisionReceived,
    InformationProvided,
    InformationRequested,
    Program,
    ReviewAction,
    ReviewPriority,
    ServiceLine,
    UnitsUsed,
)
from caredomain.authorization.deadlines import (
    DEADLINES,
    DMEPOS_VALIDITY,
    DeadlineRule,
    DecisionDeadline,
    OverdueCase,
    decision_due,
    overdue,
)

__all__ = [
    "AUTHORIZATION_MACHINE",
    "DEADLINES",
    "DMEPOS_VALIDITY",
    "REVIEW_ACTION_STATE",
    "STATE_REVIEW_ACTION",
    "AppealDecided",
    "AppealFiled",
    "AuthorizationCase",
    "AuthorizationExpired",
    "CaseCancelled",
    "CaseEnteredInError",
    "CaseStatus",
    "CaseSubmitted",
    "DeadlineRule",
    "Decision",
    "DecisionDeadline",
    "DecisionReceived",
    "InformationProvided",
    "InformationRequested",
    "OverdueCase",
    "Program",
    "ReviewAction",
    "ReviewPriority",
    "ServiceLine",
    "UnitsUsed",
    "decision_due",
    "overdue",
]
