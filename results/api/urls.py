from django.urls import path

from results.api import views

urlpatterns = [
    path("results/", views.ResultListView.as_view(), name="result-list"),
]
