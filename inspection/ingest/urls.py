from django.urls import path

from inspection.ingest import tus, views

urlpatterns = [
    path("inspections/", views.inspection_create_view, name="inspection-create"),
    path("uploads/", tus.UploadCollectionView.as_view(), name="upload-collection"),
    path("uploads/<uuid:upload_id>", tus.UploadDetailView.as_view(), name="upload-detail"),
]
