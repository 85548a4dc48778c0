"""The live monitor's stores: queries that return its domain objects, never commit."""

from .pipelines import PipelineStore
from .processings import ProcessingKeys, ProcessingStore

__all__ = ["PipelineStore", "ProcessingKeys", "ProcessingStore"]
