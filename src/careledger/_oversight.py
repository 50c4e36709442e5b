"""The oversight services of a node (DESIGN.md section 15): what it shows auditors of itself.

A mixin of `careledger.node.Node`, beside `careledger._capabilities`: what it needs of the core is declared in
`careledger._core`, and each package is imported where it is wired.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from careledger._core import Core

if TYPE_CHECKING:
    from careledger.compliance import ComplianceReports


class Oversight(Core):
    """Compliance reports, wired from the core a `Node` provides."""

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
