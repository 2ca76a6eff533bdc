// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IIdentityRegistry
/// @notice Verified (KYC) investors, shared by every pool's token and distributor.
/// @dev Each account that was ever verified holds a stable 1-based index, assigned at its first
/// verification and kept when it is unverified and verified again. Every verification and
/// unverification is also pushed to the registered hooks (IIdentityHook, e.g. the pools'
/// distributors), in the same transaction; hooks are never removed, so a hook can trust that it
/// hears of every change after its registration.
interface IIdentityRegistry {
    /// @notice `account` was verified; `index` is its permanent identity index.
    event Verified(address indexed account, uint64 indexed index);
    /// @notice `account` is no longer verified (its index stays reserved for it).
    event Unverified(address indexed account, uint64 indexed index);

    /// @notice `hook` hears of every verification and unverification from now on.
    event HookAdded(address indexed hook);

    /// @notice The zero address cannot be an investor.
    error ZeroAccount();
    /// @notice `hook` is registered already.
    error HookExists(address hook);
    /// @notice `hook` is not a contract, is bound to another registry, or refused a test call:
    /// registered, it would block every verification and unverification for good.
    error HookRejected(address hook);

    /// @notice Whether `account` is verified now.
    function isVerified(address account) external view returns (bool);

    /// @notice Whether `account` is verified now, and its identity index (0 if never verified).
    function identityOf(address account) external view returns (bool verified, uint64 index);

    /// @notice Whether `hook` is told of every verification and unverification.
    function isHook(address hook) external view returns (bool);
}
