"""Datasets that jobs ran on."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..domain import DatasetInfo
from ..storage.datasets import DatasetStore

__all__ = ["DatasetService"]


class DatasetService:
    """Reads dataset summaries."""

    def __init__(self, session: Session, *, datasets: DatasetStore) -> None:
        self._session = session
        self._datasets = datasets

    def list_datasets(self) -> list[DatasetInfo]:
        """Every dataset with its job count, instruments and latest job."""
        datasets = self._datasets.list()
        self._session.rollback()
        return datasets
