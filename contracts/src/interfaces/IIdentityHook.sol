// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IIdentityRegistry} from "./IIdentityRegistry.sol";

/// @title IIdentityHook
/// @notice A contract the IdentityRegistry tells, in the same transaction, whenever its agent
/// verifies or unverifies accounts (a pool's RevenueDistributor keeps a verified flag beside each
/// holder's claimed amount from it, so a claim needs no call to the registry).
interface IIdentityHook {
    /// @notice `accounts` are all verified now (`verified`) or all not verified now.
    /// @dev Called by the registry only, with the agent's whole list: it may name accounts whose
    /// state did not change. A hook that reverts blocks verification, so it must not.
    function identitiesChanged(address[] calldata accounts, bool verified) external;

    /// @notice The registry this hook takes changes from: `addHook` refuses a hook bound to
    /// another (it would revert on every change and block verification for good).
    function identityRegistry() external view returns (IIdentityRegistry);
}
