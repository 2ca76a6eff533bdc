// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FalseReturningToken (test double)
/// @notice An ERC-20 whose `transfer` and `transferFrom` return false without moving anything
/// once `failing` is set, as some old tokens do instead of reverting. A second mode takes a 1%
/// fee on every transfer, to show the distributor refuses to be funded short.
contract FalseReturningToken is ERC20 {
    bool public failing;
    bool public feeOnTransfer;

    constructor() ERC20("False", "FALSE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setFailing(bool failing_) external {
        failing = failing_;
    }

    function setFeeOnTransfer(bool fee) external {
        feeOnTransfer = fee;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (failing) return false;
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (failing) return false;
        return super.transferFrom(from, to, value);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (feeOnTransfer && from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0xdead), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}
