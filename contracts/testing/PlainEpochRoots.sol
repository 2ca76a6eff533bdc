// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title PlainEpochRoots (benchmark baseline)
/// @notice An owner writes a root per pool epoch: no signatures, no window, no totals. What the
/// oracle's propose and finalize are measured against.
contract PlainEpochRoots {
    address public immutable owner;
    mapping(bytes32 poolId => mapping(uint64 epoch => bytes32)) public roots;

    event RootSet(bytes32 indexed poolId, uint64 indexed epoch, bytes32 root);

    error NotOwner();

    constructor() {
        owner = msg.sender;
    }

    function setRoot(bytes32 poolId, uint64 epoch, bytes32 root) external {
        if (msg.sender != owner) revert NotOwner();
        roots[poolId][epoch] = root;
        emit RootSet(poolId, epoch, root);
    }
}
