// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IIdentityHook} from "./interfaces/IIdentityHook.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";
import {IRevenueOracle} from "./interfaces/IRevenueOracle.sol";

/// @title RevenueDistributor
/// @notice One per pool: a cumulative Merkle root over (poolId, account, cumulativeAmount) in
/// base units of the payment token. A root is published only for the pool's next finalized oracle
/// epoch, in order, and pulls exactly the increase of the cumulative total from the treasury in
/// the same transaction, so the distributor never owes more than it received. `claim` pays
/// cumulative minus already claimed to the account itself (anyone may submit it), only while the
/// account is verified; a repeated claim pays nothing.
/// @dev Gas (bench/README.md): the payment token, oracle, registry and pool id are immutable. Each
/// holder has one word here: its claimed amount and a verified flag that the IdentityRegistry
/// keeps current through `identitiesChanged` (this contract is one of its hooks). A claim by a
/// flagged holder reads that word and the root, and makes no call besides the payout; its first
/// claim rewrites a word the verification already made non-zero. A holder verified before this
/// distributor was registered as a hook is not flagged until it is verified again: its claims ask
/// the registry instead (correct, ~5,000 gas dearer). Storage written by every publish (the root,
/// the state word) is non-zero from deployment on, so no publish pays for a zero → non-zero write
/// here; pausing moves the root out of the slot a claim reads.
contract RevenueDistributor is IIdentityHook, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Publishes roots (the distributor service).
    bytes32 public constant PUBLISHER_ROLE = keccak256("PUBLISHER_ROLE");
    /// @notice Pauses and unpauses claims and publishing.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice How the pool's holders split an epoch's distributable revenue (computed off-chain,
    /// recorded here so that anyone can recompute the tree).
    enum SplitMode {
        TimeWeighted,
        Snapshot
    }

    /// @notice The pool's terms. `holdersBps` of each finalized epoch's revenue is distributable.
    struct Terms {
        address treasury;
        uint16 holdersBps;
        SplitMode splitMode;
    }

    /// @notice How the pool's epochs (device time) map onto block timestamps (chain time), so that
    /// anyone recomputes an epoch's balances from the chain alone (docs/architecture.md, "Epoch →
    /// chain window"): epoch n covers device milliseconds [deviceGenesisMs + n·epochLengthMs,
    /// deviceGenesisMs + (n+1)·epochLengthMs), and device time d is chain second
    /// chainGenesisS + ceil((d − deviceGenesisMs) / (1000 · speedup)). See `epochWindow`.
    struct EpochClock {
        uint64 deviceGenesisMs;
        uint64 epochLengthMs;
        uint64 chainGenesisS;
        /// @dev Device seconds per chain second: 1 in production, the simulation's speed locally.
        uint32 speedup;
    }

    /// @notice Publishing state.
    struct State {
        uint64 nextEpoch;
        uint128 totalFunded;
        bool paused;
    }

    /// @dev `State` as stored, in one word; `live` is always true, so the word is never zero.
    struct StoredState {
        uint64 nextEpoch;
        uint128 totalFunded;
        bool paused;
        bool live;
    }

    /// @dev `_claimRoot` before any root, or after a zero root (nothing to claim): no leaf hashes
    /// to it, and keeping the slot non-zero saves the first publish a zero → non-zero write.
    bytes32 private constant NO_ROOT = bytes32(uint256(1));
    /// @dev The verified flag in a holder's word; the low 128 bits are its claimed amount.
    uint256 private constant VERIFIED = 1 << 255;

    bytes32 public immutable poolId;
    IRevenueOracle public immutable oracle;
    IIdentityRegistry public immutable identityRegistry;
    IERC20 public immutable paymentToken;
    /// @notice The first oracle epoch this distributor publishes for.
    uint64 public immutable firstEpoch;

    /// @dev The root claims verify against, `NO_ROOT` when there is none, 0 while paused (the
    /// root then waits in `_pausedRoot`).
    bytes32 private _claimRoot = NO_ROOT;
    bytes32 private _pausedRoot;
    StoredState private _state;
    Terms private _terms;
    /// @dev Read by no transaction: only by `epochClock`/`epochWindow` and off-chain.
    EpochClock private _clock;
    /// @dev Per holder: `VERIFIED` (set only by the IdentityRegistry: set ⇒ verified now) | the
    /// claimed amount (low 128 bits).
    mapping(address account => uint256) private _holders;

    /// @notice The cumulative root for `epoch` is live; `funded` was pulled from the treasury.
    event RootPublished(
        uint64 indexed epoch, bytes32 root, uint256 cumulativeTotal, uint256 funded, bytes32 treeHash
    );
    /// @notice `account` received `amount`; it has now claimed `cumulativeAmount` in total.
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);
    event TermsSet(address treasury, uint16 holdersBps, SplitMode splitMode);
    event EpochClockSet(uint64 deviceGenesisMs, uint64 epochLengthMs, uint64 chainGenesisS, uint32 speedup);
    event Paused(address account);
    event Unpaused(address account);

    error ZeroAddress();
    error EpochOutOfOrder(uint64 expected, uint64 epoch);
    error CumulativeDecreased(uint256 totalFunded, uint256 cumulativeTotal);
    /// @notice A non-zero cumulative total needs a root.
    error ZeroRoot();
    /// @notice The increase exceeds the epoch's revenue times the holders' share.
    error FundingAboveEntitlement(uint256 increase, uint256 entitlement);
    /// @notice The treasury cannot pay `needed` now: fund it, or raise its allowance to this contract.
    error TreasuryUnderfunded(address treasury, uint256 needed, uint256 balance, uint256 allowance);
    /// @notice The payment token moved a different amount than asked (a fee-on-transfer token).
    error FundingNotExact(uint256 expected, uint256 received);
    error HoldersBpsTooHigh(uint16 holdersBps);
    error EnforcedPause();
    error ExpectedPause();
    error NoRoot();
    error NotVerified(address account);
    error InvalidProof();
    /// @notice Only the IdentityRegistry reports verifications.
    error NotIdentityRegistry(address caller);
    /// @notice An epoch must last at least one chain second: epochLengthMs ≥ 1000 · speedup ≥ 1000.
    error InvalidEpochClock(uint64 epochLengthMs, uint32 speedup);
    /// @notice The clock is fixed once its chain genesis has passed or a root was published.
    error EpochClockFixed(uint64 chainGenesisS);

    /// @param poolId_ The pool (ASCII pool id, left-aligned, zero-padded).
    /// @param oracle_ Where finalized epochs come from.
    /// @param identityRegistry_ Who may claim.
    /// @param paymentToken_ What is paid. Fixed for life: cumulative amounts are in its units.
    /// @param firstEpoch_ The first epoch to publish for (the pool's first oracle epoch).
    /// @param admin Holder of the default admin role (terms, roles).
    /// @param terms Initial terms.
    /// @param clock_ The epoch → chain-time map; adjustable (`setEpochClock`) only until its chain
    /// genesis passes, so a production pool (genesis in the past) is fixed from creation.
    constructor(
        bytes32 poolId_,
        IRevenueOracle oracle_,
        IIdentityRegistry identityRegistry_,
        IERC20 paymentToken_,
        uint64 firstEpoch_,
        address admin,
        Terms memory terms,
        EpochClock memory clock_
    ) {
        if (
            address(oracle_) == address(0) || address(identityRegistry_) == address(0)
                || address(paymentToken_) == address(0) || admin == address(0)
        ) revert ZeroAddress();
        poolId = poolId_;
        oracle = oracle_;
        identityRegistry = identityRegistry_;
        paymentToken = paymentToken_;
        firstEpoch = firstEpoch_;
        _state = StoredState({nextEpoch: firstEpoch_, totalFunded: 0, paused: false, live: true});
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setTerms(terms);
        _setEpochClock(clock_);
    }

    // ---------------------------------------------------------------- publish

    /// @notice Publishes the cumulative root after finalized oracle epoch `epoch` and pulls the
    /// increase of the cumulative total from the treasury.
    /// @param root Root over (poolId, account, cumulativeAmount); may stay the same (an epoch
    /// that earned holders nothing is still published, in order).
    /// @param cumulativeTotal Sum of all cumulative amounts under `root`.
    /// @param treeHash Hash of the published tree file (StandardMerkleTree dump).
    function publish(uint64 epoch, bytes32 root, uint256 cumulativeTotal, bytes32 treeHash)
        external
        onlyRole(PUBLISHER_ROLE)
        nonReentrant
    {
        StoredState memory state = _state;
        if (state.paused) revert EnforcedPause();
        if (epoch != state.nextEpoch) revert EpochOutOfOrder(state.nextEpoch, epoch);
        if (root == bytes32(0) && cumulativeTotal != 0) revert ZeroRoot();
        if (cumulativeTotal < state.totalFunded) revert CumulativeDecreased(state.totalFunded, cumulativeTotal);
        uint256 increase = cumulativeTotal - state.totalFunded;
        Terms memory terms = _terms;
        uint256 entitlement = oracle.finalizedRevenue(poolId, epoch) * terms.holdersBps / 10_000;
        if (increase > entitlement) revert FundingAboveEntitlement(increase, entitlement);

        _state = StoredState({
            nextEpoch: epoch + 1, totalFunded: SafeCast.toUint128(cumulativeTotal), paused: false, live: true
        });
        _claimRoot = root == bytes32(0) ? NO_ROOT : root;
        if (increase != 0) _pull(terms.treasury, increase);
        emit RootPublished(epoch, root, cumulativeTotal, increase, treeHash);
    }

    // ---------------------------------------------------------------- claim

    /// @notice Pays `account` its `cumulativeAmount` minus what it has claimed already.
    /// @dev Not `nonReentrant`: the claimed amount is written before the transfer, so a payment
    /// token that calls back finds nothing more to pay (test/contracts/distributor.test.ts).
    /// @return paid What was transferred (0 for a repeated claim).
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        returns (uint256 paid)
    {
        bytes32 root = _claimRoot;
        if (uint256(root) <= uint256(NO_ROOT)) {
            if (_state.paused) revert EnforcedPause();
            revert NoRoot();
        }
        uint256 word = _holders[account];
        // Not flagged: verified before this contract became a hook (or not verified): ask.
        if (word & VERIFIED == 0 && !identityRegistry.isVerified(account)) revert NotVerified(account);
        if (!_verifyHolderLeaf(proof, root, account, cumulativeAmount)) revert InvalidProof();

        uint256 claimedBefore = uint128(word);
        if (cumulativeAmount <= claimedBefore) return 0;
        uint256 cumulative = SafeCast.toUint128(cumulativeAmount);
        _holders[account] = (word & VERIFIED) | cumulative;
        paid = cumulative - claimedBefore;
        paymentToken.safeTransfer(account, paid);
        emit Claimed(account, paid, cumulative);
    }

    // ---------------------------------------------------------------- identity hook

    /// @inheritdoc IIdentityHook
    /// @dev Sets or clears the flag only: a cleared flag sends claims to the registry, which is
    /// always right, so only a set flag must never outlive a verification.
    function identitiesChanged(address[] calldata accounts, bool verified) external {
        if (msg.sender != address(identityRegistry)) revert NotIdentityRegistry(msg.sender);
        for (uint256 i; i < accounts.length; ++i) {
            address account = accounts[i];
            uint256 word = _holders[account];
            uint256 updated = verified ? word | VERIFIED : word & ~VERIFIED;
            if (updated != word) _holders[account] = updated;
        }
    }

    // ---------------------------------------------------------------- admin

    function setTerms(Terms calldata terms) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTerms(terms);
    }

    /// @notice Replaces the epoch clock while it is still adjustable: before its chain genesis and
    /// before any root (the local stack sets the genesis when its simulation starts). Once a block
    /// at or after the genesis exists the clock never changes, so every window the distributor
    /// service computed (it waits for a block past the window's end) stays the one on-chain.
    function setEpochClock(EpochClock calldata clock_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint64 genesis = _clock.chainGenesisS;
        if (block.timestamp >= genesis || _state.nextEpoch != firstEpoch) revert EpochClockFixed(genesis);
        _setEpochClock(clock_);
    }

    /// @notice Stops claims and publishing.
    function pause() external onlyRole(PAUSER_ROLE) {
        if (_state.paused) revert EnforcedPause();
        _state.paused = true;
        _pausedRoot = _claimRoot;
        _claimRoot = bytes32(0);
        emit Paused(msg.sender);
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        if (!_state.paused) revert ExpectedPause();
        _state.paused = false;
        _claimRoot = _pausedRoot;
        _pausedRoot = bytes32(0);
        emit Unpaused(msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @notice The current cumulative root (also while paused); 0 before any root.
    function root() external view returns (bytes32) {
        bytes32 current = _state.paused ? _pausedRoot : _claimRoot;
        return current == NO_ROOT ? bytes32(0) : current;
    }

    /// @notice What `account` has claimed so far.
    function claimed(address account) external view returns (uint256) {
        return uint128(_holders[account]);
    }

    /// @notice Whether this distributor holds `account` as verified without asking the registry
    /// (false: not verified, or verified before this distributor became a registry hook and not
    /// since; its claims then ask the registry).
    function verifiedHere(address account) external view returns (bool) {
        return _holders[account] & VERIFIED != 0;
    }

    /// @notice The next epoch to publish for, the cumulative total funded, and the pause flag.
    function state() external view returns (State memory) {
        StoredState memory s = _state;
        return State({nextEpoch: s.nextEpoch, totalFunded: s.totalFunded, paused: s.paused});
    }

    function terms() external view returns (Terms memory) {
        return _terms;
    }

    function epochClock() external view returns (EpochClock memory) {
        return _clock;
    }

    /// @notice The chain window of `epoch`: the balances that count for it are those of blocks
    /// with startS ≤ timestamp < endS (adjacent epochs tile exactly).
    function epochWindow(uint64 epoch) external view returns (uint64 startS, uint64 endS) {
        EpochClock memory c = _clock;
        uint256 perChainSecond = uint256(c.speedup) * 1000;
        startS = SafeCast.toUint64(c.chainGenesisS + Math.ceilDiv(uint256(epoch) * c.epochLengthMs, perChainSecond));
        endS = SafeCast.toUint64(
            c.chainGenesisS + Math.ceilDiv((uint256(epoch) + 1) * c.epochLengthMs, perChainSecond)
        );
    }

    function paused() external view returns (bool) {
        return _state.paused;
    }

    // ---------------------------------------------------------------- internals

    function _setEpochClock(EpochClock memory clock_) private {
        if (clock_.speedup == 0 || clock_.epochLengthMs < uint256(clock_.speedup) * 1000) {
            revert InvalidEpochClock(clock_.epochLengthMs, clock_.speedup);
        }
        _clock = clock_;
        emit EpochClockSet(clock_.deviceGenesisMs, clock_.epochLengthMs, clock_.chainGenesisS, clock_.speedup);
    }

    function _setTerms(Terms memory terms) private {
        if (terms.treasury == address(0)) revert ZeroAddress();
        if (terms.holdersBps > 10_000) revert HoldersBpsTooHigh(terms.holdersBps);
        _terms = terms;
        emit TermsSet(terms.treasury, terms.holdersBps, terms.splitMode);
    }

    /// @dev `MerkleProof.verifyCalldata` of the holder leaf
    /// `keccak256(bytes.concat(keccak256(abi.encode(poolId, account, cumulativeAmount))))`, with
    /// sorted pairs, in one assembly loop (about 60 gas per level less than the library's).
    function _verifyHolderLeaf(bytes32[] calldata proof, bytes32 root, address account, uint256 cumulativeAmount)
        private
        view
        returns (bool valid)
    {
        bytes32 pool = poolId;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, pool)
            mstore(add(ptr, 0x20), account)
            mstore(add(ptr, 0x40), cumulativeAmount)
            mstore(0x00, keccak256(ptr, 0x60))
            let node := keccak256(0x00, 0x20)
            let end := add(proof.offset, shl(5, proof.length))
            for { let p := proof.offset } lt(p, end) { p := add(p, 0x20) } {
                let sibling := calldataload(p)
                // The smaller of the two first: (node, sibling) unless sibling < node.
                let at := shl(5, lt(sibling, node))
                mstore(at, node)
                mstore(xor(at, 0x20), sibling)
                node := keccak256(0x00, 0x40)
            }
            valid := eq(node, root)
        }
    }

    /// @dev Pulls exactly `amount`: a check that the balance grew by exactly `amount` (a
    /// fee-on-transfer token would break the promise), and a clear error when the treasury cannot
    /// pay. The treasury's balance and allowance are read only after a failed pull, to say which
    /// one is short: a pull that succeeds makes two calls fewer. A failure with both sufficient
    /// keeps the token's own revert (or SafeERC20FailedOperation for a `false`).
    function _pull(address treasury, uint256 amount) private {
        IERC20 token = paymentToken;
        uint256 before = token.balanceOf(address(this));
        (bool ok, bytes memory returned) =
            address(token).call(abi.encodeCall(IERC20.transferFrom, (treasury, address(this), amount)));
        if (!ok || !(returned.length == 0 ? address(token).code.length != 0 : _isTrue(returned))) {
            uint256 balance = token.balanceOf(treasury);
            uint256 allowance = token.allowance(treasury, address(this));
            if (balance < amount || allowance < amount) {
                revert TreasuryUnderfunded(treasury, amount, balance, allowance);
            }
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(returned, 0x20), mload(returned))
                }
            }
            revert SafeERC20.SafeERC20FailedOperation(address(token));
        }
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert FundingNotExact(amount, received);
    }

    /// @dev An ABI-encoded `true` (a return of exactly 1 in its first word).
    function _isTrue(bytes memory returned) private pure returns (bool) {
        return returned.length >= 0x20 && uint256(bytes32(returned)) == 1;
    }
}
