"""Settlement: moving received funds out of deposit addresses (sweeps) and, later, payouts.

Only the settlement function imports this package (it pulls in web3 and eth-account):
``sweeps`` holds the naive and EIP-7702 batched sweeps (docs/adr/0009); signatures come
from the :class:`~shared.custody.signer.Signer` interface, which custody owns.
"""
