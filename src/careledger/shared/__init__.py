"""What every worker of a node shares through its database, so any worker may serve any request.

Single-use tickets (SIWE nonces, OAuth authorization codes and client-assertion ids, SMART launch ids,
picker tickets, portal sessions, deliveries kept for another node until they arrive), bulk export jobs and
their sealed files, and rate-limit buckets live in the node's database (SQLite or PostgreSQL, the same
statements), not in a process: a nonce one worker issues is spent at whichever worker the login reaches,
exactly once, and a flood is counted once however the requests are spread.
"""

from careledger.shared._buckets import Buckets, RateLimit
from careledger.shared._deliveries import Deliver, Deliveries
from careledger.shared._exports import ExportStore, forget_exports
from careledger.shared._tickets import Tickets

__all__ = ["Buckets", "Deliver", "Deliveries", "ExportStore", "RateLimit", "SharedState", "Tickets", "forget_exports"]


class SharedState:
    """The node's tickets and rate-limit buckets, over one database."""

    def __init__(self, tickets: Tickets, buckets: Buckets) -> None:
        self.tickets = tickets
        self.buckets = buckets
