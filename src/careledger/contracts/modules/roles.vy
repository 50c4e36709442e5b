# pragma version ~=0.4.3
"""
@title Actor roles
@custom:contract-name roles
@license GNU Affero General Public License v3.0 or later
@notice The roles the IdentityRegistry gives actors (DESIGN.md section 3),
        in one place for every contract that asks the registry who
        someone is. 0 means unregistered.
"""


ORG: constant(uint8) = 1
PRACTITIONER: constant(uint8) = 2
PATIENT: constant(uint8) = 3
DEVICE: constant(uint8) = 4
INSURER: constant(uint8) = 5
PHARMACY: constant(uint8) = 6
LAB: constant(uint8) = 7
RESEARCHER: constant(uint8) = 8
REGULATOR: constant(uint8) = 9


interface IIdentityRegistry:
    def role_of(account: address) -> uint8: view
    def has_valid_credential(subject: address, credential_type: bytes32) -> bool: view
    def manager_of(actor: address) -> address: view
