// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC6372} from "@openzeppelin/contracts/interfaces/IERC6372.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {IIdentityRegistry} from "./interfaces/IIdentityRegistry.sol";

/// @title RevenueShareToken
/// @notice One per pool: an ERC-20 revenue-share token that moves only between verified holders
/// (mints only to them), with every balance and the total supply readable at a past time.
/// @dev Balances are checkpointed by block timestamp (ERC-6372 clock in timestamp mode) with
/// OpenZeppelin's Checkpoints, not ERC20Votes: Votes tracks delegated voting power, and would
/// need every holder to self-delegate before its history exists. A transfer costs two checkpoint
/// writes more than a plain ERC-20 transfer; claims never touch this token, so that cost is paid
/// where it matters least.
contract RevenueShareToken is ERC20, AccessControl, IERC6372 {
    using Checkpoints for Checkpoints.Trace208;

    /// @notice Mints tokens to verified holders.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");

    /// @notice The pool this token is a share of (ASCII pool id, left-aligned, zero-padded).
    bytes32 public immutable poolId;
    /// @notice Who may hold the token.
    IIdentityRegistry public immutable identityRegistry;

    mapping(address account => Checkpoints.Trace208) private _balanceHistory;
    Checkpoints.Trace208 private _supplyHistory;

    /// @notice A transfer or mint to (or a transfer from) an account that is not verified.
    error HolderNotVerified(address account);
    /// @notice History is readable only for timepoints before the current one.
    error FutureLookup(uint256 timepoint, uint48 clock);

    constructor(
        string memory name_,
        string memory symbol_,
        bytes32 poolId_,
        IIdentityRegistry identityRegistry_,
        address admin
    ) ERC20(name_, symbol_) {
        poolId = poolId_;
        identityRegistry = identityRegistry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mints `amount` to the verified holder `to`.
    function mint(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Balance of `account` at the end of the last block with timestamp <= `timepoint`.
    /// @param timepoint Unix seconds, strictly before `clock()`.
    function balanceOfAt(address account, uint256 timepoint) external view returns (uint256) {
        return _balanceHistory[account].upperLookupRecent(_pastTimepoint(timepoint));
    }

    /// @notice Total supply at the end of the last block with timestamp <= `timepoint`.
    function totalSupplyAt(uint256 timepoint) external view returns (uint256) {
        return _supplyHistory.upperLookupRecent(_pastTimepoint(timepoint));
    }

    /// @notice Number of balance checkpoints of `account` (one per block in which it changed).
    function balanceCheckpointCount(address account) external view returns (uint256) {
        return _balanceHistory[account].length();
    }

    /// @inheritdoc IERC6372
    function clock() public view returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @inheritdoc IERC6372
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() external pure returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0) && !identityRegistry.isVerified(to)) revert HolderNotVerified(to);
        if (from != address(0) && to != address(0) && !identityRegistry.isVerified(from)) {
            revert HolderNotVerified(from);
        }
        super._update(from, to, value);
        uint48 now_ = clock();
        if (from == address(0) || to == address(0)) {
            _supplyHistory.push(now_, SafeCast.toUint208(totalSupply()));
        }
        if (from != address(0)) _balanceHistory[from].push(now_, SafeCast.toUint208(balanceOf(from)));
        if (to != address(0)) _balanceHistory[to].push(now_, SafeCast.toUint208(balanceOf(to)));
    }

    function _pastTimepoint(uint256 timepoint) private view returns (uint48) {
        uint48 now_ = clock();
        if (timepoint >= now_) revert FutureLookup(timepoint, now_);
        return uint48(timepoint);
    }
}
