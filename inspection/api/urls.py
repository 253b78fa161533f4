from django.urls import path

from inspection.api import tus, views

urlpatterns = [
    path("inspections/", views.inspection_create_view, name="inspection-create"),
    path("inspections/<uuid:inspection_id>/", views.InspectionDetailView.as_view(), name="inspection-detail"),
    path("inspections/<uuid:inspection_id>/image", views.InspectionImageView.as_view(), name="inspection-image"),
    path("uploads/", tus.UploadCollectionView.as_view(), name="upload-collection"),
    path("uploads/<uuid:upload_id>", tus.UploadDetailView.as_view(), name="upload-detail"),
]
