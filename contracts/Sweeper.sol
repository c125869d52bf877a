// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Sweeper: EIP-7702 delegate that lets ONE hot wallet sweep many deposit EOAs.
/// @notice One instance is deployed per deployment with the hot wallet as `OPERATOR`.
///         Each deposit EOA signs a type-4 authorization that sets its code to
///         `0xef0100 || address(this instance)`; from then on this code runs *as the
///         deposit* whenever the deposit is called. The hot wallet then sweeps many
///         deposits' tokens in one transaction (`sweepMany`), and no deposit ever needs
///         BNB for gas. The delegation persists: later sweeps need no new authorization.
///
/// Security argument (docs/adr/0009-sweeps-eip7702.md):
///  1. Who: `sweep` moves funds only when called by `OPERATOR` (the hot wallet) or by
///     this very instance `SELF`, and `SELF` only calls `sweep` from `sweepMany`, which
///     only `OPERATOR` may call. Both are immutables: they live in the runtime code, so
///     they read the same in every deposit's context, and nobody can change them.
///  2. Where to: the destination is always `OPERATOR`; no argument picks it. The worst
///     a caller that passes the checks can do is move a deposit's whole balance of a
///     token into the hot wallet. The hot wallet and deposit keys come from the same
///     sealed mnemonic that only the settlement function decrypts (DESIGN §5), so this
///     gives no new party any reach.
///  3. Nothing else: no arbitrary call/execute, no approve, no upgrade, no initializer to
///     front-run, and NO STORAGE, so the code cannot collide with (or leave behind)
///     storage in a deposit account if that account is ever re-delegated.
///  4. The token argument is untrusted even from the operator: a hostile token only ever
///     receives `balanceOf`/`transfer` calls from the deposit; it gains no allowance and
///     cannot re-enter (`sweep` rejects any other caller).
///  5. The deposit's own key keeps full control (EIP-7702 never disables the key), so
///     funds can always be recovered with it, e.g. from a hostile token.
contract Sweeper {
    /// @notice The hot wallet: the only account that may sweep, and the only destination.
    address public immutable OPERATOR;
    /// @notice This instance's own address, read from code so that it is still this
    ///         instance (not the deposit) when the code runs in a deposit's context.
    address public immutable SELF;

    error NotOperator();
    error NotTheSweeperInstance();
    /// @notice A deposit answered `sweep` with no return data: it is not delegated here.
    error NotDelegated(address deposit);
    error TokenCallFailed(address deposit);

    constructor(address operator) {
        require(operator != address(0), "Sweeper: zero operator");
        OPERATOR = operator;
        SELF = address(this);
    }

    /// @notice Runs in a deposit's context: sends the deposit's whole `token` balance
    ///         to `OPERATOR`. Returns the amount moved (0 when there was nothing).
    function sweep(address token) external returns (uint256 amount) {
        if (msg.sender != OPERATOR && msg.sender != SELF) revert NotOperator();
        address to = OPERATOR;
        bool failed;
        // Hand-written calls: this runs once per swept deposit, and Solidity's
        // abi.encode/decode of two external calls costs ~2k gas more per deposit.
        assembly ("memory-safe") {
            // amount = token.balanceOf(address(this)); needs a full 32-byte answer (Yul
            // evaluates right to left: the staticcall runs before returndatasize()).
            mstore(0x00, shl(224, 0x70a08231))
            mstore(0x04, address())
            failed := iszero(
                and(gt(returndatasize(), 31), staticcall(gas(), token, 0x00, 0x24, 0x00, 0x20))
            )
            amount := mul(mload(0x00), iszero(failed))
            if amount {
                // token.transfer(to, amount): accept `true` or no return data (tokens
                // like Ethereum USDT); a revert or a `false` fails the sweep.
                let ptr := mload(0x40)
                mstore(ptr, shl(224, 0xa9059cbb))
                mstore(add(ptr, 0x04), to)
                mstore(add(ptr, 0x24), amount)
                let ok := call(gas(), token, 0, ptr, 0x44, 0x00, 0x20)
                failed := iszero(
                    and(
                        ok,
                        or(iszero(returndatasize()), and(gt(returndatasize(), 31), eq(mload(0x00), 1)))
                    )
                )
            }
        }
        if (failed) revert TokenCallFailed(address(this));
    }

    /// @notice Runs in a deposit's context: sends exactly `amount` of `token` to
    ///         `OPERATOR`. The off-chain side read the balance at a known block; a
    ///         deposit's balance only grows (nothing but this code moves its funds), so
    ///         the amount is there. Skipping `balanceOf` saves ~500 gas per deposit
    ///         (docs/adr/0030). Returns the amount moved.
    function sweepAmount(address token, uint256 amount) external returns (uint256) {
        if (msg.sender != OPERATOR && msg.sender != SELF) revert NotOperator();
        address to = OPERATOR;
        bool failed;
        assembly ("memory-safe") {
            // token.transfer(to, amount): `true` or no return data (see `sweep`).
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0xa9059cbb))
            mstore(add(ptr, 0x04), to)
            mstore(add(ptr, 0x24), amount)
            let ok := call(gas(), token, 0, ptr, 0x44, 0x00, 0x20)
            failed := iszero(
                and(ok, or(iszero(returndatasize()), and(gt(returndatasize(), 31), eq(mload(0x00), 1))))
            )
        }
        if (failed) revert TokenCallFailed(address(this));
        return amount;
    }

    /// @notice `sweepMany` with the amounts read off-chain: each entry packs
    ///         `amount << 160 | deposit` into one word (amounts below 2^96). All or
    ///         nothing, like `sweepMany`.
    function sweepManyExact(address token, uint256[] calldata entries) external {
        if (msg.sender != OPERATOR) revert NotOperator();
        if (address(this) != SELF) revert NotTheSweeperInstance();
        bytes4 notDelegated = NotDelegated.selector;
        bytes4 sweepAmountSelector = this.sweepAmount.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, sweepAmountSelector)
            mstore(add(ptr, 0x04), token)
            let end := add(entries.offset, shl(5, entries.length))
            for { let p := entries.offset } lt(p, end) { p := add(p, 0x20) } {
                let entry := calldataload(p)
                let deposit := and(entry, 0xffffffffffffffffffffffffffffffffffffffff)
                mstore(add(ptr, 0x24), shr(160, entry))
                if iszero(call(gas(), deposit, 0, ptr, 0x44, 0x00, 0x20)) {
                    returndatacopy(0x00, 0x00, returndatasize())
                    revert(0x00, returndatasize())
                }
                if lt(returndatasize(), 0x20) {
                    mstore(0x00, notDelegated)
                    mstore(0x04, deposit)
                    revert(0x00, 0x24)
                }
            }
        }
    }

    /// @notice Called by the hot wallet on this instance: sweeps every deposit (each
    ///         delegated to this code) into the hot wallet, all or nothing. A deposit
    ///         that is not delegated here has no `sweep` that answers, so the batch
    ///         reverts (the off-chain side checks delegation before it sends).
    function sweepMany(address token, address[] calldata deposits) external {
        if (msg.sender != OPERATOR) revert NotOperator();
        // Only as the instance: in a deposit's context each callee would see the deposit,
        // not `SELF`, as its caller and refuse; fail early and clearly instead.
        if (address(this) != SELF) revert NotTheSweeperInstance();
        bytes4 notDelegated = NotDelegated.selector;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0x01681a62)) // sweep(address)
            mstore(add(ptr, 0x04), token)
            let end := add(deposits.offset, shl(5, deposits.length))
            for { let p := deposits.offset } lt(p, end) { p := add(p, 0x20) } {
                let deposit := and(calldataload(p), 0xffffffffffffffffffffffffffffffffffffffff)
                if iszero(call(gas(), deposit, 0, ptr, 0x24, 0x00, 0x20)) {
                    // Bubble up the deposit's own reason (e.g. TokenCallFailed).
                    returndatacopy(0x00, 0x00, returndatasize())
                    revert(0x00, returndatasize())
                }
                // A codeless (undelegated) deposit "succeeds" with no return data.
                if lt(returndatasize(), 0x20) {
                    mstore(0x00, notDelegated)
                    mstore(0x04, deposit)
                    revert(0x00, 0x24)
                }
            }
        }
    }

    /// @notice A delegated deposit still accepts BNB like a plain EOA would; the
    ///         instance itself refuses it (nothing could ever move it out).
    receive() external payable {
        if (address(this) == SELF) revert NotTheSweeperInstance();
    }
}
