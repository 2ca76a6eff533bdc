// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title DeviceRegistry
/// @notice Per pool, the Merkle root over the pool's device entries, so that anyone holding the
/// registry file can check a device's key, class, rated power and tariff against the chain.
/// @dev Leaf (OpenZeppelin standard, double-hashed):
/// `keccak256(bytes.concat(keccak256(abi.encode(string deviceId, string assetClass,
/// bytes32 poolId, bytes32 publicKey, uint256 ratedPowerW, string tariffId))))`.
/// A pool with no devices has root 0 and deviceCount 0.
contract DeviceRegistry is AccessControl {
    /// @notice Sets registry roots.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice The committed registry of one pool.
    /// @param root Merkle root over the pool's device leaves.
    /// @param version 1 for the first root, +1 for each change (0: never set).
    /// @param deviceCount Number of leaves under `root`.
    /// @param updatedAt Block timestamp of the last change.
    struct PoolRegistry {
        bytes32 root;
        uint64 version;
        uint32 deviceCount;
        uint64 updatedAt;
    }

    mapping(bytes32 poolId => PoolRegistry) private _registries;

    /// @notice The registry root of `poolId` changed to `root` (version `version`).
    event RegistryRootSet(bytes32 indexed poolId, uint64 indexed version, bytes32 root, uint32 deviceCount);

    /// @notice poolId 0 is not a pool.
    error ZeroPoolId();
    /// @notice A root of 0 stands for the empty registry only, and an empty registry has root 0.
    error EmptyRegistryMismatch(bytes32 root, uint32 deviceCount);
    /// @notice The root and count are already the committed ones; nothing to version.
    error RegistryUnchanged(bytes32 poolId);

    /// @param admin Holder of the default admin role (grants REGISTRAR_ROLE).
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Commits a new registry root for `poolId`.
    function setRoot(bytes32 poolId, bytes32 root, uint32 deviceCount) external onlyRole(REGISTRAR_ROLE) {
        if (poolId == bytes32(0)) revert ZeroPoolId();
        if ((root == bytes32(0)) != (deviceCount == 0)) revert EmptyRegistryMismatch(root, deviceCount);
        PoolRegistry storage registry = _registries[poolId];
        if (registry.version != 0 && registry.root == root && registry.deviceCount == deviceCount) {
            revert RegistryUnchanged(poolId);
        }
        uint64 version = registry.version + 1;
        registry.root = root;
        registry.version = version;
        registry.deviceCount = deviceCount;
        registry.updatedAt = uint64(block.timestamp);
        emit RegistryRootSet(poolId, version, root, deviceCount);
    }

    /// @notice The committed registry of `poolId` (all zero if never set).
    function registryOf(bytes32 poolId) external view returns (PoolRegistry memory) {
        return _registries[poolId];
    }
}
