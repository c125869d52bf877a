// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title StableToken: local stand-ins for the other stablecoins bscpay accepts on BNB
///        Smart Chain (Binance-Peg USD Coin, First Digital USD), and for look-alikes.
/// @notice For the local chain and tests only: the BEP20 surface of TetherToken with the
///         name, symbol and decimals given at deployment. A look-alike ("USDC" at another
///         address) is the same contract deployed twice, which is why bscpay trusts
///         configured addresses, never names or symbols.
contract StableToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    address private immutable _owner;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        _owner = msg.sender;
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    /// @notice BEP20: the token owner (the deployer, which alone may mint).
    function getOwner() external view returns (address) {
        return _owner;
    }

    /// @notice Ownable-style alias kept because the real BSC-USD contract has both.
    function owner() external view returns (address) {
        return _owner;
    }

    function mint(address to, uint256 amount) external returns (bool) {
        require(msg.sender == _owner, "BEP20: caller is not the owner");
        require(to != address(0), "BEP20: mint to the zero address");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(msg.sender, spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= amount, "BEP20: transfer amount exceeds allowance");
        _transfer(from, to, amount);
        // Like the real BSC-USD (BEP20Token template), spending an allowance re-emits
        // Approval, so the scanner sees the same mix of logs as on mainnet.
        _approve(from, msg.sender, allowed - amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        require(from != address(0), "BEP20: transfer from the zero address");
        require(to != address(0), "BEP20: transfer to the zero address");
        uint256 balance = balanceOf[from];
        require(balance >= amount, "BEP20: transfer amount exceeds balance");
        unchecked {
            // Cannot underflow (checked above) nor overflow (sum of balances == totalSupply).
            balanceOf[from] = balance - amount;
            balanceOf[to] += amount;
        }
        emit Transfer(from, to, amount);
    }

    function _approve(address holder, address spender, uint256 amount) private {
        require(holder != address(0), "BEP20: approve from the zero address");
        require(spender != address(0), "BEP20: approve to the zero address");
        allowance[holder][spender] = amount;
        emit Approval(holder, spender, amount);
    }
}
