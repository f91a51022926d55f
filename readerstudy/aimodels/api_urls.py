from django.urls import path

from readerstudy.aimodels import api

app_name = "api-models"
urlpatterns = [
    path("", api.ModelVersionListApi.as_view(), name="list"),
    path("<int:version_id>/", api.ModelVersionDetailApi.as_view(), name="detail"),
    path("<int:version_id>/predictions/", api.PredictionListApi.as_view(), name="predictions"),
]
