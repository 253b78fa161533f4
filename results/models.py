"""Results' own rows. Defects are written with the verdict by the worker
(inspection.models.Defect); the MES integration's rows live in results.mes."""

from results.mes.models import Acknowledgement, ApiClient

__all__ = ["Acknowledgement", "ApiClient"]
