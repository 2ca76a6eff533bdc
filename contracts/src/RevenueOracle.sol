// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRevenueOracle} from "./interfaces/IRevenueOracle.sol";

/// @title RevenueOracle
/// @notice Per pool and epoch, the Merkle root over the device leaves with the epoch's totals,
/// proposed with m-of-n EIP-712 signatures of the oracle signers and final after a challenge
/// window. A guardian can reject a pending root during the window; a corrected root can then be
/// proposed for the same epoch under the next attempt number (old signatures do not replay).
/// Epochs of a pool advance strictly: epoch e+1 can be proposed only once e is final, and an
/// epoch in which nothing was earned gets the empty root (root 0, leafCount 0).
/// @dev Gas is flat in fleet size: a proposal stores two words whatever the number of leaves.
/// Anyone may submit a proposal that carries enough signatures, and anyone may finalize.
contract RevenueOracle is IRevenueOracle, AccessControl, EIP712 {
    /// @notice Rejects pending roots during their challenge window.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice The signed struct (EIP-712). `attempt` starts at 0 and grows by one per rejection.
    bytes32 public constant EPOCH_ROOT_TYPEHASH = keccak256(
        "EpochRoot(bytes32 poolId,uint64 epoch,uint32 attempt,bytes32 root,uint256 revenueUnits,uint256 energyWh,uint32 leafCount,bytes32 treeHash,bytes32 archiveHash)"
    );

    /// @notice What the signers sign, except `attempt`, which the contract supplies.
    /// @param treeHash sha-256 or keccak of the published device tree file (the artifact's id).
    /// @param archiveHash Hash of the readings archive the leaves pay for.
    struct Proposal {
        bytes32 poolId;
        uint64 epoch;
        bytes32 root;
        uint256 revenueUnits;
        uint256 energyWh;
        uint32 leafCount;
        bytes32 treeHash;
        bytes32 archiveHash;
    }

    /// @notice One device's leaf of a pool epoch's tree (core/merkle/leaves.ts, `DeviceLeaf`): the
    /// leaf hash is `keccak256(bytes.concat(keccak256(abi.encode(poolId, epoch, deviceId,
    /// energyWh, revenueUnits, readings, readingsDigest))))`, OpenZeppelin's standard leaf.
    struct DeviceLeaf {
        bytes32 poolId;
        uint64 epoch;
        string deviceId;
        uint256 energyWh;
        uint256 revenueUnits;
        uint32 readings;
        bytes32 readingsDigest;
    }

    /// @notice The stored part of a pool epoch (two words); the rest is in `EpochProposed`.
    struct EpochRecord {
        bytes32 root;
        EpochStatus status;
        uint32 attempt;
        uint64 finalizesAt;
        uint32 leafCount;
        uint120 revenueUnits;
    }

    /// @notice A registered pool; `nextEpoch` is the one that may be proposed (or is pending).
    struct Pool {
        bool registered;
        uint64 firstEpoch;
        uint64 nextEpoch;
    }

    /// @notice Signer threshold, signer count and challenge window, read together by `propose`.
    struct Config {
        uint8 threshold;
        uint8 signerCount;
        uint32 challengeWindowSec;
    }

    Config private _config;
    mapping(address signer => bool) public isSigner;
    mapping(bytes32 poolId => Pool) private _pools;
    mapping(bytes32 poolId => mapping(uint64 epoch => EpochRecord)) private _epochs;

    /// @notice A pool can now be proposed for, starting at `firstEpoch`.
    event PoolAdded(bytes32 indexed poolId, uint64 firstEpoch);
    /// @notice `proposal` (signed under `attempt`) is pending until `finalizesAt` (unix seconds);
    /// `signers` ascending.
    event EpochProposed(
        bytes32 indexed poolId,
        uint64 indexed epoch,
        uint32 attempt,
        Proposal proposal,
        uint64 finalizesAt,
        address[] signers
    );
    /// @notice The guardian rejected the pending root of `attempt`; `attempt + 1` may be proposed.
    event EpochRejected(
        bytes32 indexed poolId, uint64 indexed epoch, uint32 attempt, bytes32 root, address guardian, bytes32 reason
    );
    /// @notice The root of `epoch` is final; the pool's next epoch is `epoch + 1`.
    event EpochFinalized(bytes32 indexed poolId, uint64 indexed epoch, bytes32 root, uint256 revenueUnits);
    event SignerAdded(address indexed signer);
    event SignerRemoved(address indexed signer);
    event ThresholdSet(uint8 threshold);
    event ChallengeWindowSet(uint32 challengeWindowSec);

    error ZeroPoolId();
    error PoolExists(bytes32 poolId);
    error UnknownPool(bytes32 poolId);
    /// @notice Only `expected` can be proposed now for the pool.
    error EpochOutOfOrder(bytes32 poolId, uint64 expected, uint64 epoch);
    error AlreadyPending(bytes32 poolId, uint64 epoch);
    error NotPending(bytes32 poolId, uint64 epoch);
    error NotFinalized(bytes32 poolId, uint64 epoch);
    /// @notice Root 0 stands for the empty tree only: leafCount 0, no revenue and no energy.
    error EmptyEpochMismatch();
    error ChallengeWindowOpen(uint64 finalizesAt);
    error ChallengeWindowClosed(uint64 finalizesAt);
    /// @notice `signatures` is not a concatenation of 65-byte (r, s, v) signatures.
    error MalformedSignatures(uint256 length);
    error BelowThreshold(uint256 signatures, uint8 threshold);
    /// @notice Signature `position` does not recover (bad length, high s, bad v).
    error InvalidSignature(uint256 position);
    /// @notice Recovered signers must be strictly ascending: no duplicates.
    error SignersNotAscending(uint256 position, address signer);
    error NotSigner(address recovered);
    error SignerExists(address signer);
    error InvalidThreshold(uint8 threshold, uint8 signerCount);
    error ZeroSigner();

    /// @param admin Holder of the default admin role: signers, threshold, window, pools, guardian.
    /// @param signers Initial oracle signers.
    /// @param threshold Signatures required for a proposal.
    /// @param challengeWindowSec Seconds between a proposal and its earliest finalization.
    constructor(address admin, address[] memory signers, uint8 threshold, uint32 challengeWindowSec)
        EIP712("GridrootRevenueOracle", "1")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i; i < signers.length; ++i) {
            _addSigner(signers[i]);
        }
        _setThreshold(threshold);
        _config.challengeWindowSec = challengeWindowSec;
        emit ChallengeWindowSet(challengeWindowSec);
    }

    // ---------------------------------------------------------------- proposals

    /// @notice Proposes the root of `p.epoch` for `p.poolId` with the signers' signatures.
    /// @param signatures Concatenated 65-byte (r, s, v) signatures over `proposalDigest(p)`,
    /// ordered by signer address ascending.
    function propose(Proposal calldata p, bytes calldata signatures) external {
        Pool memory pool = _pools[p.poolId];
        if (!pool.registered) revert UnknownPool(p.poolId);
        if (p.epoch != pool.nextEpoch) revert EpochOutOfOrder(p.poolId, pool.nextEpoch, p.epoch);
        if ((p.root == bytes32(0)) != (p.leafCount == 0)) revert EmptyEpochMismatch();
        if (p.leafCount == 0 && (p.revenueUnits != 0 || p.energyWh != 0)) revert EmptyEpochMismatch();

        EpochRecord storage record = _epochs[p.poolId][p.epoch];
        // The epoch is the pool's next one, so it is never Final here.
        if (record.status == EpochStatus.Pending) revert AlreadyPending(p.poolId, p.epoch);
        uint32 attempt = record.attempt;
        Config memory config = _config;
        address[] memory signers = _recoverSigners(_digest(p, attempt), signatures, config.threshold);

        uint64 finalizesAt = uint64(block.timestamp) + config.challengeWindowSec;
        record.root = p.root;
        record.status = EpochStatus.Pending;
        record.finalizesAt = finalizesAt;
        record.leafCount = p.leafCount;
        record.revenueUnits = SafeCast.toUint120(p.revenueUnits);
        emit EpochProposed(p.poolId, p.epoch, attempt, p, finalizesAt, signers);
    }

    /// @notice Makes the pending root of `epoch` final once its challenge window has passed.
    function finalize(bytes32 poolId, uint64 epoch) external {
        EpochRecord storage record = _epochs[poolId][epoch];
        if (record.status != EpochStatus.Pending) revert NotPending(poolId, epoch);
        uint64 finalizesAt = record.finalizesAt;
        if (block.timestamp < finalizesAt) revert ChallengeWindowOpen(finalizesAt);
        record.status = EpochStatus.Final;
        // A pending epoch is always its pool's next epoch.
        _pools[poolId].nextEpoch = epoch + 1;
        emit EpochFinalized(poolId, epoch, record.root, record.revenueUnits);
    }

    /// @notice Rejects the pending root of `epoch` while its challenge window is open.
    /// @param reason A short code for indexers and people (e.g. "ROOT_MISMATCH").
    function reject(bytes32 poolId, uint64 epoch, bytes32 reason) external onlyRole(GUARDIAN_ROLE) {
        EpochRecord storage record = _epochs[poolId][epoch];
        if (record.status != EpochStatus.Pending) revert NotPending(poolId, epoch);
        if (block.timestamp >= record.finalizesAt) revert ChallengeWindowClosed(record.finalizesAt);
        uint32 attempt = record.attempt;
        record.status = EpochStatus.Rejected;
        record.attempt = attempt + 1;
        emit EpochRejected(poolId, epoch, attempt, record.root, msg.sender, reason);
    }

    // ---------------------------------------------------------------- views

    /// @notice The EIP-712 digest the signers sign for `p` at `attempt`.
    function proposalDigest(Proposal calldata p, uint32 attempt) external view returns (bytes32) {
        return _digest(p, attempt);
    }

    /// @notice The stored record of a pool epoch (all zero if never proposed).
    function epochRecord(bytes32 poolId, uint64 epoch) external view returns (EpochRecord memory) {
        return _epochs[poolId][epoch];
    }

    /// @notice The registered pool (all zero if unknown).
    function poolOf(bytes32 poolId) external view returns (Pool memory) {
        return _pools[poolId];
    }

    /// @notice Threshold, signer count and challenge window.
    function config() external view returns (Config memory) {
        return _config;
    }

    /// @notice Whether `epoch` of `poolId` is final.
    function isFinalized(bytes32 poolId, uint64 epoch) external view returns (bool) {
        return _epochs[poolId][epoch].status == EpochStatus.Final;
    }

    /// @inheritdoc IRevenueOracle
    function finalizedRevenue(bytes32 poolId, uint64 epoch) external view returns (uint256) {
        EpochRecord storage record = _epochs[poolId][epoch];
        if (record.status != EpochStatus.Final) revert NotFinalized(poolId, epoch);
        return record.revenueUnits;
    }

    /// @notice The final root of `epoch` of `poolId`; reverts with `NotFinalized` otherwise.
    function finalizedRoot(bytes32 poolId, uint64 epoch) external view returns (bytes32) {
        EpochRecord storage record = _epochs[poolId][epoch];
        if (record.status != EpochStatus.Final) revert NotFinalized(poolId, epoch);
        return record.root;
    }

    /// @notice Whether `leaf` is in the final tree of its pool epoch: `proof` (sorted pairs,
    /// OpenZeppelin `MerkleProof`) folds its standard leaf hash to the finalized root. What an
    /// auditor (and `npm run verify`) asks the chain itself instead of trusting a local check.
    /// @dev Reverts with `NotFinalized` unless the leaf's epoch is final; an empty epoch (root 0)
    /// verifies no leaf.
    function verifyDeviceLeaf(DeviceLeaf calldata leaf, bytes32[] calldata proof) external view returns (bool) {
        EpochRecord storage record = _epochs[leaf.poolId][leaf.epoch];
        if (record.status != EpochStatus.Final) revert NotFinalized(leaf.poolId, leaf.epoch);
        return MerkleProof.verifyCalldata(proof, record.root, deviceLeafHash(leaf));
    }

    /// @notice The standard leaf hash of a device leaf (the same bytes core/merkle hashes).
    function deviceLeafHash(DeviceLeaf calldata leaf) public pure returns (bytes32) {
        // Field by field, not abi.encode(leaf): a struct with a string member would be encoded
        // behind an offset word, which is not the tuple the off-chain trees hash.
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        leaf.poolId,
                        leaf.epoch,
                        leaf.deviceId,
                        leaf.energyWh,
                        leaf.revenueUnits,
                        leaf.readings,
                        leaf.readingsDigest
                    )
                )
            )
        );
    }

    // ---------------------------------------------------------------- admin

    /// @notice Registers `poolId`; its first proposable epoch is `firstEpoch`.
    function addPool(bytes32 poolId, uint64 firstEpoch) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (poolId == bytes32(0)) revert ZeroPoolId();
        if (_pools[poolId].registered) revert PoolExists(poolId);
        _pools[poolId] = Pool({registered: true, firstEpoch: firstEpoch, nextEpoch: firstEpoch});
        emit PoolAdded(poolId, firstEpoch);
    }

    function addSigner(address signer) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _addSigner(signer);
    }

    /// @notice Removes `signer`; the threshold must stay reachable.
    function removeSigner(address signer) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!isSigner[signer]) revert NotSigner(signer);
        uint8 count = _config.signerCount - 1;
        if (count < _config.threshold) revert InvalidThreshold(_config.threshold, count);
        isSigner[signer] = false;
        _config.signerCount = count;
        emit SignerRemoved(signer);
    }

    function setThreshold(uint8 threshold) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setThreshold(threshold);
    }

    function setChallengeWindow(uint32 challengeWindowSec) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _config.challengeWindowSec = challengeWindowSec;
        emit ChallengeWindowSet(challengeWindowSec);
    }

    // ---------------------------------------------------------------- internals

    function _addSigner(address signer) private {
        if (signer == address(0)) revert ZeroSigner();
        if (isSigner[signer]) revert SignerExists(signer);
        isSigner[signer] = true;
        _config.signerCount += 1;
        emit SignerAdded(signer);
    }

    function _setThreshold(uint8 threshold) private {
        if (threshold == 0 || threshold > _config.signerCount) revert InvalidThreshold(threshold, _config.signerCount);
        _config.threshold = threshold;
        emit ThresholdSet(threshold);
    }

    function _digest(Proposal calldata p, uint32 attempt) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    EPOCH_ROOT_TYPEHASH,
                    p.poolId,
                    p.epoch,
                    attempt,
                    p.root,
                    p.revenueUnits,
                    p.energyWh,
                    p.leafCount,
                    p.treeHash,
                    p.archiveHash
                )
            )
        );
    }

    /// @dev Every signature must recover to a current signer, in strictly ascending address order
    /// (so none counts twice), and there must be at least `threshold` of them.
    function _recoverSigners(bytes32 digest, bytes calldata signatures, uint8 threshold)
        private
        view
        returns (address[] memory signers)
    {
        if (signatures.length % 65 != 0) revert MalformedSignatures(signatures.length);
        uint256 count = signatures.length / 65;
        if (count < threshold) revert BelowThreshold(count, threshold);
        signers = new address[](count);
        address previous;
        for (uint256 i; i < count; ++i) {
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                let offset := add(signatures.offset, mul(i, 65))
                r := calldataload(offset)
                s := calldataload(add(offset, 32))
                v := byte(0, calldataload(add(offset, 64)))
            }
            (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, v, r, s);
            if (error != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (signer <= previous) revert SignersNotAscending(i, signer);
            if (!isSigner[signer]) revert NotSigner(signer);
            signers[i] = signer;
            previous = signer;
        }
    }
}
