from django.urls import path

from readerstudy.results import views

app_name = "results-api"
urlpatterns = [
    path("studies/<int:study_id>/results/", views.StudyResultsApi.as_view(), name="study-results"),
]
