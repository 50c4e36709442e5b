"""The table of federated models a node keeps (careledger.insight), apart from `models.py`, which is at the house's
size limit; importing the `store` package registers it on the same `Base`, so Alembic and the checks see it."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careledger.store.models import Base


class InsightModel(Base):
    """A model's weights and card as this node holds them, under its id on one ModelRegistry (`contract`: a chain
    that was reset has a new registry, where the id means nothing). The chain holds their hashes; a node checks
    them on every load, so a row edited here is refused, never used."""

    __tablename__ = "insight_models"

    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(66), primary_key=True)  # 0x-hex keccak(study id, version)
    study_id: Mapped[int] = mapped_column(BigInteger, index=True)
    version: Mapped[int] = mapped_column(Integer)
    weights: Mapped[bytes] = mapped_column(LargeBinary)
    card: Mapped[str] = mapped_column(Text)  # canonical JSON, byte for byte what was hashed
    stored_at: Mapped[float] = mapped_column(Float)
