"""Care plans: goals, activities, and a streaming monitor that raises the right alerts.

Built by the care-plans issue on :mod:`caredomain.core`.
This area imports only :mod:`caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
