"""DICOMweb routes, mounted at /api/v1/dicomweb/ (the service's base URL for clients)."""

from django.urls import path

from readerstudy.imaging import dicomweb_apis as apis

app_name = "dicomweb"
_study = "studies/<str:study_uid>"
_series = f"{_study}/series/<str:series_uid>"
_instance = f"{_series}/instances/<str:instance_uid>"
urlpatterns = [
    # QIDO-RS
    path("studies", apis.SearchStudiesApi.as_view(), name="search-studies"),
    path("series", apis.SearchSeriesApi.as_view(), name="search-all-series"),
    path("instances", apis.SearchInstancesApi.as_view(), name="search-all-instances"),
    path(f"{_study}/series", apis.SearchSeriesApi.as_view(), name="search-series"),
    path(f"{_study}/instances", apis.SearchInstancesApi.as_view(), name="search-study-instances"),
    path(f"{_series}/instances", apis.SearchInstancesApi.as_view(), name="search-instances"),
    # WADO-RS
    path(_study, apis.RetrieveStudyApi.as_view(), name="study"),
    path(f"{_study}/metadata", apis.MetadataApi.as_view(), name="study-metadata"),
    path(_series, apis.RetrieveSeriesApi.as_view(), name="series"),
    path(f"{_series}/metadata", apis.MetadataApi.as_view(), name="series-metadata"),
    path(_instance, apis.RetrieveInstanceApi.as_view(), name="instance"),
    path(f"{_instance}/metadata", apis.MetadataApi.as_view(), name="instance-metadata"),
    path(f"{_instance}/frames/<str:frames>", apis.RetrieveFramesApi.as_view(), name="frames"),
]
