"""Authorization: payer rule packs, requirement checks with explanations, the case lifecycle.

Built by the authorization issue on `caredomain.core`.
This area imports only `caredomain.core`, never another area or an adapter.
"""

__all__: list[str] = []
