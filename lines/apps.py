from django.apps import AppConfig


class LinesConfig(AppConfig):
    name = "lines"
    verbose_name = "Production lines"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from lines.models import ProductionLine, Station
        from lines.selectors import forget_stations

        for model in (Station, ProductionLine):
            post_save.connect(forget_stations, sender=model, dispatch_uid=f"forget-stations-{model.__name__}")
            post_delete.connect(forget_stations, sender=model, dispatch_uid=f"forget-stations-del-{model.__name__}")
