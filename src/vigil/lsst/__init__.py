"""Vigil in the LSST Science Pipelines: a Data Butler as a data repository and a source.

Everything here needs the ``lsst`` extra (``pip install 'vigil[lsst]'``: lsst-daf-butler,
lsst-resources, lsst-utils). The LSST packages are imported only when a function of this
package is called, so the rest of Vigil never pays for them.

- `store_repository`: put a computed data repository (metric tables, catalogues and
  ``vigil-repo.yaml``) into a run collection of a Gen3 repository (``vigil compute
  --butler``).
- `butler_view`: the same repository read back from one or more collections, as a folder
  the explorer and the query engine read like any other (``vigil explore --butler``).
- `find_measurement_jobs`: the lsst.verify ``metricvalue_*`` measurements and the
  analysis_tools metric bundles of some collections, as Vigil jobs, one per run
  collection (``vigil ingest-butler``).
"""

from __future__ import annotations

from vigil.lsst.errors import ButlerError
from vigil.lsst.measurements import MeasurementJobs, find_measurement_jobs, read_bundle
from vigil.lsst.repository import StoreReport, butler_view, store_repository

__all__ = [
    "ButlerError",
    "MeasurementJobs",
    "StoreReport",
    "butler_view",
    "find_measurement_jobs",
    "read_bundle",
    "store_repository",
]
