"""Scheduling: availability, slot search, booking without double-booking, and an optimizer.

Built by the scheduling issue on :mod:`caredomain.core`.
This area imports only :mod:`caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
