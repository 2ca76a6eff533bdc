// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IIdentityHook} from "./interfaces/IIdentityHook.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";

/// @title IdentityRegistry
/// @notice Verified (KYC) investors, managed by an agent role. Verifying an account that is
/// verified, or unverifying one that is not, changes nothing here and emits nothing, so the
/// operator command can apply the same list twice.
/// @dev Each verify/unverify call passes its whole list to every registered hook (the pools'
/// distributors), in the same transaction: a hook that cached an account as verified is told
/// before anyone can act on the change. Re-verifying accounts that are verified already is how an
/// agent brings a hook registered after them up to date. Hooks are never removed (a removed hook
/// could keep an account verified that no longer is); each one adds a call to every verification.
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

    IIdentityHook[] private _hooks;
    mapping(address hook => bool) private _isHook;

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
        _tellHooks(accounts, true);
    }

    /// @notice Unverifies `accounts`; those not verified are skipped.
    function unverify(address[] calldata accounts) external onlyRole(AGENT_ROLE) {
        for (uint256 i; i < accounts.length; ++i) {
            Identity storage identity = _identities[accounts[i]];
            if (!identity.verified) continue;
            identity.verified = false;
            emit Unverified(accounts[i], identity.index);
        }
        _tellHooks(accounts, false);
    }

    /// @notice Registers `hook`: it is told of every verification and unverification from now on
    /// (never removed). Accounts verified before stay unknown to it until they are verified again.
    function addHook(IIdentityHook hook) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(hook) == address(0)) revert ZeroAccount();
        if (_isHook[address(hook)]) revert HookExists(address(hook));
        // Hooks are never removed and every verify/unverify calls each one: a hook that reverts
        // would block both for good (an EOA, or a distributor built for another registry, did in
        // an outside attack). So it must be a contract bound to this registry that takes a call.
        if (address(hook).code.length == 0) revert HookRejected(address(hook));
        try hook.identityRegistry() returns (IIdentityRegistry registry) {
            if (address(registry) != address(this)) revert HookRejected(address(hook));
        } catch {
            revert HookRejected(address(hook));
        }
        try hook.identitiesChanged(new address[](0), true) {}
        catch {
            revert HookRejected(address(hook));
        }
        _isHook[address(hook)] = true;
        _hooks.push(hook);
        emit HookAdded(address(hook));
    }

    /// @inheritdoc IIdentityRegistry
    function isVerified(address account) external view returns (bool) {
        return _identities[account].verified;
    }

    /// @inheritdoc IIdentityRegistry
    function isHook(address hook) external view returns (bool) {
        return _isHook[hook];
    }

    /// @notice Every registered hook, in registration order.
    function hooks() external view returns (IIdentityHook[] memory) {
        return _hooks;
    }

    /// @inheritdoc IIdentityRegistry
    function identityOf(address account) external view returns (bool verified, uint64 index) {
        Identity memory identity = _identities[account];
        return (identity.verified, identity.index);
    }

    function _tellHooks(address[] calldata accounts, bool verified) private {
        uint256 count = _hooks.length;
        for (uint256 i; i < count; ++i) {
            _hooks[i].identitiesChanged(accounts, verified);
        }
    }
}
