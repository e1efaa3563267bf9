"""Exports: PDF summaries, custom room reports and CSV files built from the analytics functions.

Ask for one with `start_export(kind, course_id, person_id, params, delivery)`: it checks the request,
records an `Export` row and queues the job that makes it (`tasks.py`). The status partial
(templates/exports/_status.html) follows the row until it is done or failed.
"""
from .mail import mask_email
from .selection import ExportError
from .tasks import KINDS, AlreadyInProgress, file_of, start_export

__all__ = ["KINDS", "AlreadyInProgress", "ExportError", "file_of", "mask_email", "start_export"]
