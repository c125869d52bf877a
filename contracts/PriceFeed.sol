// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title PriceFeed: a local stand-in for a Chainlink price feed on BNB Smart Chain.
/// @notice For the local chain and tests only. It answers the read side bscpay uses of
///         Chainlink's AggregatorV3Interface (`decimals`, `description`, `version`,
///         `latestRoundData`, `getRoundData`) and takes new answers the way Chainlink's
///         MockV3Aggregator does (`updateAnswer(int256)`, `updateRoundData`), except that
///         only its deployer may write, so a test that moves a price says so on chain.
contract PriceFeed {
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;

    uint80 public latestRound;
    mapping(uint80 => int256) private _answers;
    mapping(uint80 => uint256) private _updatedAt;
    mapping(uint80 => uint256) private _startedAt;

    address private immutable _owner;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        _owner = msg.sender;
        decimals = decimals_;
        description = description_;
        _write(1, initialAnswer, block.timestamp, block.timestamp);
    }

    modifier onlyOwner() {
        require(msg.sender == _owner, "PriceFeed: caller is not the owner");
        _;
    }

    /// @notice A new round with `answer`, updated now.
    function updateAnswer(int256 answer) external onlyOwner {
        _write(latestRound + 1, answer, block.timestamp, block.timestamp);
    }

    /// @notice A round with an explicit time: how a test makes the feed stale.
    function updateRoundData(uint80 roundId, int256 answer, uint256 timestamp, uint256 startedAt)
        external
        onlyOwner
    {
        require(roundId > latestRound, "PriceFeed: rounds only move forward");
        _write(roundId, answer, timestamp, startedAt);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 roundId)
        public
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        require(_updatedAt[roundId] != 0, "PriceFeed: no data present");
        return (roundId, _answers[roundId], _startedAt[roundId], _updatedAt[roundId], roundId);
    }

    function _write(uint80 roundId, int256 answer, uint256 timestamp, uint256 startedAt) private {
        latestRound = roundId;
        _answers[roundId] = answer;
        _updatedAt[roundId] = timestamp;
        _startedAt[roundId] = startedAt;
        emit AnswerUpdated(answer, roundId, timestamp);
    }
}
