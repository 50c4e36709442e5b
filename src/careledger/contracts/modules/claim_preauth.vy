# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Claims: prior authorization
@custom:contract-name claim_preauth
@license GNU Affero General Public License v3.0 or later
@notice A network provider asks a member's plan to authorize a service
        in advance; the insurer approves it until a date or denies it
        with a reason; a claim for that service spends the approval,
        once.
"""


from snekmate.utils import pausable
uses: pausable

from . import claim_plans as plans
uses: plans

from . import claim_members as members
uses: members

from . import packing


# @dev Prior-authorization statuses.
AUTH_REQUESTED: public(constant(uint8)) = 1
AUTH_APPROVED: public(constant(uint8)) = 2
AUTH_DENIED: public(constant(uint8)) = 3
AUTH_USED: public(constant(uint8)) = 4


# @dev X12 claim adjustment reason codes of prior-authorization denials.
CARC_AUTH_INVALID: public(constant(uint16)) = 15
CARC_AUTH_DENIED: public(constant(uint16)) = 39
CARC_AUTH_ABSENT: public(constant(uint16)) = 197


# @dev A prior authorization.
struct Preauth:
    provider: address
    member: address
    plan_id: uint32
    service_class: uint8
    status: uint8
    reason: uint16
    valid_until: uint64


event PreauthRequested:
    preauth_id: indexed(uint256)
    provider: indexed(address)
    member: indexed(address)
    plan_id: uint32
    service_class: uint8
    request_hash: bytes32


event PreauthDecided:
    preauth_id: indexed(uint256)
    approved: bool
    reason: uint16
    valid_until: uint64


# @dev The number of prior-authorization requests; ids are 1..preauth_count.
preauth_count: public(uint256)


# @dev Field offsets. Head: provider (160 bits) | class (8) | status (8) |
#      reason (16) | valid until (64). Member: member (160) | plan (32).
_CLASS: constant(uint256) = 160
_STATUS: constant(uint256) = 168
_REASON: constant(uint256) = 176
_VALID_UNTIL: constant(uint256) = 192
_PLAN: constant(uint256) = 160


_preauth_head: HashMap[uint256, uint256]
_preauth_member: HashMap[uint256, uint256]


@external
@nonreentrant
def request_preauth(member: address, service_class: uint8, request_hash: bytes32) -> uint256:
    """
    @notice A provider in the member's plan's network asks it to authorize
            a service in advance.
    @param member The enrolled member.
    @param service_class The service class (0..15).
    @param request_hash The commitment of the off-chain request (a FHIR
           Claim with use = preauthorization).
    @return The request's id.
    """
    pausable._require_not_paused()
    assert convert(service_class, uint256) < plans.SERVICE_CLASSES, "claims: unknown service class"
    plan_id: uint32 = members._plan_of(member)
    assert plan_id != 0, "claims: member is not enrolled"
    assert members._in_network(plan_id, msg.sender), "claims: not a provider in the plan's network"
    preauth_id: uint256 = self.preauth_count + 1
    self.preauth_count = preauth_id
    head: uint256 = packing._with_field(convert(msg.sender, uint256), _CLASS, packing.U8, convert(service_class, uint256))
    self._preauth_head[preauth_id] = packing._with_field(head, _STATUS, packing.U8, convert(AUTH_REQUESTED, uint256))
    self._preauth_member[preauth_id] = self._member_word(member, plan_id)
    log PreauthRequested(
        preauth_id=preauth_id,
        provider=msg.sender,
        member=member,
        plan_id=plan_id,
        service_class=service_class,
        request_hash=request_hash,
    )
    return preauth_id


@external
@nonreentrant
def decide_preauth(preauth_id: uint256, approved: bool, reason: uint16, valid_until: uint64):
    """
    @notice The plan's insurer approves a request until `valid_until` (a
            claim for a service on or before then may use it, once), or
            denies it with a reason code.
    @param preauth_id The request.
    @param approved Approve (True) or deny (False).
    @param reason The denial's reason code (0 when approving).
    @param valid_until The last service date the approval covers.
    """
    pausable._require_not_paused()
    head: uint256 = self._preauth_head[preauth_id]
    assert head != 0, "claims: no such prior authorization"
    plans._check_insurer(convert(self._preauth_member[preauth_id] >> _PLAN, uint32))
    assert packing._field(head, _STATUS, packing.U8) == convert(AUTH_REQUESTED, uint256), "claims: prior authorization already decided"
    status: uint8 = AUTH_DENIED
    if approved:
        assert convert(valid_until, uint256) > block.timestamp, "claims: authorization would already have lapsed"
        status = AUTH_APPROVED
    else:
        assert reason != 0, "claims: a denial needs a reason code"
    head = packing._with_field(head, _STATUS, packing.U8, convert(status, uint256))
    head = packing._with_field(head, _REASON, packing.U16, convert(reason, uint256))
    self._preauth_head[preauth_id] = packing._with_field(head, _VALID_UNTIL, packing.U64, convert(valid_until, uint256))
    log PreauthDecided(preauth_id=preauth_id, approved=approved, reason=reason, valid_until=valid_until)


@external
@view
def preauth(preauth_id: uint256) -> Preauth:
    """
    @notice A prior authorization.
    @param preauth_id The request.
    @return The authorization (status 0 if there is none).
    """
    head: uint256 = self._preauth_head[preauth_id]
    member: uint256 = self._preauth_member[preauth_id]
    return Preauth(
        provider=convert(head & packing.U160, address),
        member=convert(member & packing.U160, address),
        plan_id=convert(member >> _PLAN, uint32),
        service_class=convert(packing._field(head, _CLASS, packing.U8), uint8),
        status=convert(packing._field(head, _STATUS, packing.U8), uint8),
        reason=convert(packing._field(head, _REASON, packing.U16), uint16),
        valid_until=convert(packing._field(head, _VALID_UNTIL, packing.U64), uint64),
    )


@internal
def _use(
    preauth_id: uint256, provider: address, member: address, plan_id: uint32, service_class: uint8, service_date: uint64
) -> uint16:
    """
    @dev Spend an approved authorization of this provider, member, plan
         and class that covers the service date: 0, or the code of the
         claim's denial.
    """
    if preauth_id == 0:
        return CARC_AUTH_ABSENT
    head: uint256 = self._preauth_head[preauth_id]
    status: uint256 = (head >> _STATUS) & packing.U8
    if status == convert(AUTH_DENIED, uint256):
        return CARC_AUTH_DENIED
    if (
        status != convert(AUTH_APPROVED, uint256)
        or head & packing.U160 != convert(provider, uint256)
        or (head >> _CLASS) & packing.U8 != convert(service_class, uint256)
        or self._preauth_member[preauth_id] != self._member_word(member, plan_id)
        or convert(service_date, uint256) > (head >> _VALID_UNTIL) & packing.U64
    ):
        return CARC_AUTH_INVALID
    self._preauth_head[preauth_id] = (head & ~(packing.U8 << _STATUS)) | (convert(AUTH_USED, uint256) << _STATUS)
    return 0


@internal
@pure
def _member_word(member: address, plan_id: uint32) -> uint256:
    return convert(member, uint256) | (convert(plan_id, uint256) << _PLAN)
