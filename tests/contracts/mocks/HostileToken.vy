# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Hostile token
@license GNU Affero General Public License v3.0 or later
@notice A bare ERC-20 for tests whose `transfer` calls back into a
        target once with stored calldata, swallowing a failure, and
        records whether the call back went through.
"""

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
target: public(address)
payload: public(Bytes[1024])
attempts: public(uint256)
reentered: public(bool)


@external
def arm(target: address, payload: Bytes[1024]):
    self.target = target
    self.payload = payload


@external
def mint(owner: address, amount: uint256):
    self.balanceOf[owner] += amount


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    return True


@external
def transfer(to: address, amount: uint256) -> bool:
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount
    target: address = self.target
    if target != empty(address):
        self.target = empty(address)
        self.attempts += 1
        self.reentered = raw_call(target, self.payload, revert_on_failure=False)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    self.allowance[owner][msg.sender] -= amount
    self.balanceOf[owner] -= amount
    self.balanceOf[to] += amount
    return True
