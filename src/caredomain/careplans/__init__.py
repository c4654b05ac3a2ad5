"""Care plans: goals, activities, and a streaming monitor that raises the right alerts.

This area imports only `caredomain.core`, never another area or an adapter.
"""

from caredomain.careplans.model import (
    MEASURES,
    Activity,
    ActivityKind,
    ActivityStatus,
    Bound,
    CarePlan,
    CarePlanStatus,
    Component,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Measure,
    Observation,
    ObservationSource,
    Target,
    Timing,
    check_unit,
)

__all__ = [
    "MEASURES",
    "Activity",
    "ActivityKind",
    "ActivityStatus",
    "Bound",
    "CarePlan",
    "CarePlanStatus",
    "Component",
    "Goal",
    "GoalAchievement",
    "GoalLifecycle",
    "Measure",
    "Observation",
    "ObservationSource",
    "Target",
    "Timing",
    "check_unit",
]
