from django.urls import path

from readerstudy.cohorts import views

app_name = "cohorts"
urlpatterns = [
    path("", views.cohort_list_view, name="list"),
    path("upload/", views.cohort_upload_view, name="upload"),
    path("jobs/<int:job_id>/", views.import_job_view, name="job"),
    path("api/jobs/<int:job_id>/", views.ImportJobStatusApi.as_view(), name="api-job"),
]
