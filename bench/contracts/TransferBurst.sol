// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title TransferBurst: a bench-only stand-in that fills blocks with USDT Transfer logs.
/// @notice NOT a token and never deployed anywhere but a local anvil. The bench places this
///         runtime code at the configured USDT address (anvil_setCode), so every log below
///         is a real `Transfer(address,address,uint256)` log emitted by the token address,
///         shaped exactly as BSC-USD's: topics [sig, from, to], data = value.
///         `decimals()` answers 18 so the scanner's chain/token check passes.
contract TransferBurst {
    uint8 public constant decimals = 18;

    event Transfer(address indexed from, address indexed to, uint256 value);

    /// @notice Emits `n` Transfers between pseudo-random addresses derived from `seed`,
    ///         then one Transfer of `paidValue` from the caller to each of `payTo`.
    function burst(uint256 seed, uint256 n, address[] calldata payTo, uint256 paidValue)
        external
    {
        for (uint256 i = 0; i < n; ++i) {
            bytes32 h = keccak256(abi.encode(seed, i));
            address from = address(uint160(uint256(h)));
            address to = address(uint160(uint256(h) >> 96));
            // 0.01 .. ~42.9 USDT (18 decimals), never zero
            uint256 value = (uint256(uint32(uint256(h) >> 64)) + 1) * 1e10;
            emit Transfer(from, to, value);
        }
        for (uint256 j = 0; j < payTo.length; ++j) {
            emit Transfer(msg.sender, payTo[j], paidValue);
        }
    }
}
