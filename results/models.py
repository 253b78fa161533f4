"""Results keeps no rows of its own yet: defects are written with the verdict by the worker
(inspection.models.Defect); QA review records will live here."""
