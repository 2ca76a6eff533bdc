// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title PlainCumulativeDistributor (benchmark baseline)
/// @notice The textbook cumulative distributor (Morpho URD's core): an owner sets the root,
/// funded by a plain transfer from the owner, claims pay cumulative minus claimed. No holder
/// check, no epochs, no oracle, no pause: what `RevenueDistributor` is measured against.
contract PlainCumulativeDistributor {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    bytes32 public immutable poolId;
    address public immutable owner;
    bytes32 public root;
    mapping(address account => uint256) public claimed;

    event RootSet(bytes32 root, uint256 funded);
    event Claimed(address indexed account, uint256 amount);

    error NotOwner();
    error InvalidProof();
    error NothingToClaim();

    constructor(IERC20 token_, bytes32 poolId_) {
        token = token_;
        poolId = poolId_;
        owner = msg.sender;
    }

    function setRoot(bytes32 root_, uint256 funding) external {
        if (msg.sender != owner) revert NotOwner();
        root = root_;
        if (funding != 0) token.safeTransferFrom(msg.sender, address(this), funding);
        emit RootSet(root_, funding);
    }

    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(poolId, account, cumulativeAmount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof();
        uint256 amount = cumulativeAmount - claimed[account];
        if (amount == 0) revert NothingToClaim();
        claimed[account] = cumulativeAmount;
        token.safeTransfer(account, amount);
        emit Claimed(account, amount);
    }
}
