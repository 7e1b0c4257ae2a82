"""The health app's admin: the managers' scorecard form with its measures inline and a live
preview (``scorecard``), and the health records (``records``)."""

from . import records, scorecard  # noqa: F401 (registers the admin pages)
