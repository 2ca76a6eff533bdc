// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";

/// @title IdentityRegistry
/// @notice Verified (KYC) investors, managed by an agent role. Verifying an account that is
/// verified, or unverifying one that is not, changes nothing and emits nothing, so the operator
/// command can apply the same list twice.
contract IdentityRegistry is IIdentityRegistry, AccessControl {
    /// @notice Verifies and unverifies investors.
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @dev Packed in one word: what a claim reads with a single SLOAD.
    struct Identity {
        uint64 index;
        bool verified;
    }

    mapping(address account => Identity) private _identities;

    /// @notice Number of accounts ever verified; the last index handed out.
    uint64 public identityCount;

    /// @param admin Holder of the default admin role (grants AGENT_ROLE).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Verifies `accounts`; those already verified are skipped.
    function verify(address[] calldata accounts) external onlyRole(AGENT_ROLE) {
        uint64 count = identityCount;
        for (uint256 i; i < accounts.length; ++i) {
            address account = accounts[i];
            if (account == address(0)) revert ZeroAccount();
            Identity memory identity = _identities[account];
            if (identity.verified) continue;
            if (identity.index == 0) identity.index = ++count;
            _identities[account] = Identity({index: identity.index, verified: true});
            emit Verified(account, identity.index);
        }
        identityCount = count;
    }

    /// @notice Unverifies `accounts`; those not verified are skipped.
    function unverify(address[] calldata accounts) external onlyRole(AGENT_ROLE) {
        for (uint256 i; i < accounts.length; ++i) {
            Identity storage identity = _identities[accounts[i]];
            if (!identity.verified) continue;
            identity.verified = false;
            emit Unverified(accounts[i], identity.index);
        }
    }

    /// @inheritdoc IIdentityRegistry
    function isVerified(address account) external view returns (bool) {
        return _identities[account].verified;
    }

    /// @inheritdoc IIdentityRegistry
    function identityOf(address account) external view returns (bool verified, uint64 index) {
        Identity memory identity = _identities[account];
        return (identity.verified, identity.index);
    }
}
