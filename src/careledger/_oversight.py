"""The oversight services of a node (DESIGN.md section 15): what it shows auditors of itself.

A mixin of `careledger.node.Node`, beside `careledger._capabilities`: what it needs of the core is
declared below, and each package is imported where it is wired.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from careledger.access import BreakGlassReviews
    from careledger.anchoring import Anchorer
    from careledger.audit import AuditLog
    from careledger.chain import Chain, Contracts
    from careledger.compliance import ComplianceReports
    from careledger.config import Settings
    from careledger.consent import ConsentService
    from careledger.records import RecordService


class Oversight:
    """Compliance reports, wired from the core a `Node` provides."""

    if TYPE_CHECKING:  # what the core provides (`careledger.node.Node`)
        settings: Settings
        anchorer: Anchorer
        audit_anchorer: Anchorer

        @property
        def _records(self) -> RecordService: ...
        @property
        def address(self) -> str: ...
        @property
        def chain_id(self) -> int: ...
        @property
        def chain(self) -> Chain: ...
        @property
        def contracts(self) -> Contracts: ...
        @property
        def audit(self) -> AuditLog: ...
        @property
        def consent(self) -> ConsentService: ...
        @property
        def break_glass_reviews(self) -> BreakGlassReviews: ...

    @cached_property
    def compliance(self) -> ComplianceReports:
        """Compliance reports of a period: from the audit log, the consent index, the chain, the anchor batches,
        the records' census and the staff's break-glass reviews."""
        from careledger.compliance import AUDIT_ENTRIES, ChainView, ComplianceReports, Retention
        from careledger.records import category_counts

        rules = sorted(self.settings.erasure.retention.items())
        return ComplianceReports(
            self.audit,
            lambda: self.consent,
            ChainView(
                lambda: self.chain.block_number(),
                lambda block: self.chain.timestamp(block),
                lambda: self.contracts.identity_registry(),
            ),
            {"records": self.anchorer, AUDIT_ENTRIES: self.audit_anchorer},
            lambda since, until: category_counts(self._records, since, until),
            lambda: self.break_glass_reviews,
            node=self.address,
            chain_id=self.chain_id,
            organisation=self.settings.organisation,
            retention=[Retention(category, rule.name, rule.years) for category, rule in rules],
        )
