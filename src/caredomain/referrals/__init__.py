"""Referrals: the closed-loop referral machine, SLA tracking, community-resource navigation.

Built by the referrals issue on :mod:`caredomain.core`.
This area imports only :mod:`caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
