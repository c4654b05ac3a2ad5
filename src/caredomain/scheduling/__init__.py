"""Scheduling: availability, slot search, booking without double-booking, and an optimizer.

Built by the scheduling issue on `caredomain.core`.
This area imports only `caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
