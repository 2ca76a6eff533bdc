// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IIdentityRegistry
/// @notice Verified (KYC) investors, shared by every pool's token and distributor.
/// @dev Each account that was ever verified holds a stable 1-based index, assigned at its first
/// verification and kept when it is unverified and verified again. Distributors pack per-account
/// state by that index (two accounts per storage word), which is why it never changes.
interface IIdentityRegistry {
    /// @notice `account` was verified; `index` is its permanent identity index.
    event Verified(address indexed account, uint64 indexed index);
    /// @notice `account` is no longer verified (its index stays reserved for it).
    event Unverified(address indexed account, uint64 indexed index);

    /// @notice The zero address cannot be an investor.
    error ZeroAccount();

    /// @notice Whether `account` is verified now.
    function isVerified(address account) external view returns (bool);

    /// @notice Whether `account` is verified now, and its identity index (0 if never verified).
    /// @dev One storage read: the distributor's holder check and its claimed-amount slot come from it.
    function identityOf(address account) external view returns (bool verified, uint64 index);
}
