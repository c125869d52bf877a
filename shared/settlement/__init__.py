"""Settlement: moving received funds out of deposit addresses (sweeps) and, later, payouts.

Only the settlement function imports this package (it pulls in web3 and eth-account):
``signer`` holds the :class:`~shared.settlement.signer.Signer` interface and key
derivation, ``sweeps`` the naive and EIP-7702 batched sweeps (docs/adr/0009).
"""
