// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IRevenueOracle
/// @notice The part of the revenue oracle a distributor relies on.
interface IRevenueOracle {
    /// @notice The state of one pool epoch.
    enum EpochStatus {
        None,
        Pending,
        Rejected,
        Final
    }

    /// @notice `epoch` of `poolId` is final; `revenueUnits` is its committed revenue.
    /// @dev Reverts with `NotFinalized` otherwise. One storage read.
    function finalizedRevenue(bytes32 poolId, uint64 epoch) external view returns (uint256 revenueUnits);
}
