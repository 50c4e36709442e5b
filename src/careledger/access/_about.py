"""Records about other records (a Provenance of her Observation) are written only by one who may read them.

Such a record is filed under the patient whose records it is about (`records.records_about`), so writing one
would tell whether a guessed id exists and whose it is. The door asks first, as a read of each target: one the
writer may not read and one that does not exist are refused alike, in an unknown id's words, before the record
service says anything of whose they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from careledger.errors import UnknownRecord
from careledger.records import Draft, StoredRecord, records_about


def about_readable(drafts: Sequence[Draft], stored: Callable[[str], StoredRecord]) -> None:
    """Refuse drafts about a record the writer may not read: `stored` (the door's judged, audited read) raises for
    it what an unknown id gets, as it does for an id of another type. A record the same write stores is judged
    as that write."""
    written = {(str(draft.data["resourceType"]), draft.record_id) for draft in drafts}
    for draft in drafts:
        for kind, record_id in records_about(draft.data):
            if (kind, record_id) not in written and stored(record_id).resource_type != kind:
                raise UnknownRecord(record_id)
