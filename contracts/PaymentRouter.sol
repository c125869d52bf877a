// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title PaymentRouter: pays a token amount through a contract (tests only).
/// @notice Models wallets, exchanges and aggregators that pay from a contract: the
///         transaction is sent to the router, not to the token, and the Transfer log
///         that credits the recipient comes from the token with `from` = this router.
///         A scanner that reads logs (not transaction inputs) must credit it.
contract PaymentRouter {
    /// @dev Emitted by the router itself: a non-token log in the same transaction,
    ///      which a scanner must not mistake for a credit.
    event Routed(address indexed token, address indexed payer, address indexed to, uint256 amount);

    /// @notice Pulls `amount` of `token` from the caller (needs an allowance) and
    ///         forwards it to `to`: two token Transfer logs, payer->router->to.
    function pay(address token, address to, uint256 amount) external {
        require(to != address(0), "PaymentRouter: zero recipient");
        _call(token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount));
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
        emit Routed(token, msg.sender, to, amount);
    }

    /// @dev transferFrom/transfer that also accept tokens returning nothing (like
    ///      Ethereum USDT); a `false` return or a revert fails the payment.
    function _call(address token, bytes memory data) private {
        require(token.code.length > 0, "PaymentRouter: token is not a contract");
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) {
            // Bubble up the token's own revert reason (e.g. "exceeds allowance").
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        require(ret.length == 0 || abi.decode(ret, (bool)), "PaymentRouter: token returned false");
    }
}
