"""Authorization: payer rule packs, requirement checks with explanations, the case lifecycle.

Built by the authorization issue on :mod:`caredomain.core`.
This area imports only :mod:`caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
