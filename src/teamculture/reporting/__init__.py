"""What researchers publish: paper tables of fitted models and the intervals they report.

:func:`model_table` turns one or several fitted models (mixed models, outcome
models, and any result that follows the small :class:`ModelParts` protocol)
into a table as journals print it, models side by side (:class:`ModelTable`:
text, HTML, LaTeX with booktabs, Markdown and DataFrames).
:class:`VarianceIntervals` holds profile-likelihood or parametric-bootstrap
intervals for the variance parameters of a mixed model
(:meth:`teamculture.MixedResult.variance_intervals`).
"""

from teamculture.reporting._intervals import VarianceIntervals
from teamculture.reporting._parts import ModelParts
from teamculture.reporting._table import ModelTable, model_table

__all__ = ["model_table", "ModelTable", "ModelParts", "VarianceIntervals"]
