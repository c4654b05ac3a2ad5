"""Care plans: goals, activities, and a streaming monitor that raises the right alerts.

Built by the care-plans issue on `caredomain.core`.
This area imports only `caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
