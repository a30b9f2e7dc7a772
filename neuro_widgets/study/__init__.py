"""Studies: many models x many data sets x every layer, as alignment sweeps on Dask (see :class:`Study`)."""
from .result import StudyResult
from .run import Study

__all__ = ["Study", "StudyResult"]
