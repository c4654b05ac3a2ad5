"""Referrals: the closed-loop referral machine, SLA tracking, community-resource navigation.

Built by the referrals issue on `caredomain.core`.
This area imports only `caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
