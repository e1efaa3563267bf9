"""Exports: PDF summaries, custom room reports and CSV files built from the analytics functions.

Ask for one with `start_export(kind, course_id, person_id, params, delivery)`: it checks the request,
records an `Export` row and queues the job that makes it (`tasks.py`). The status partial
(templates/exports/_status.html) follows the row until it is done or failed.

Each kind (`tasks.KINDS`) owns its page binding (`selection.PageBinding`: the page's endpoint, the
capability to open it, its filter form, the arguments it keeps and defaults, the subject it shows):
the page's Export toolbar offers the kinds bound to it, and the view turns the page's arguments into
the kind's parameters through it. A new CSV export of a dashboard page is a `Kind` with its binding
and build (tasks.py; its sections are the sheets of the page's blocks, `csv_export.page_sections`) and
the toolbar included in the page's template.
"""
from .mail import mask_email
from .selection import ExportError
from .tasks import KINDS, AlreadyInProgress, file_of, start_export

__all__ = ["KINDS", "AlreadyInProgress", "ExportError", "file_of", "mask_email", "start_export"]
