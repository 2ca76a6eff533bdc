// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title HkdStablecoin
/// @notice Stand-in for a HKD stablecoin in the local stack: a plain ERC-20 with 6 decimals
/// (1 HKD = 1,000,000 units) that a minter can mint. A real deployment names an existing token.
contract HkdStablecoin is ERC20, AccessControl {
    /// @notice Mints test money.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    constructor(address admin) ERC20("Gridroot test HKD", "tHKD") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
