"""The reader's pages under /reading/ (the workstation page itself is the viewer's route)."""

from django.urls import path

from readerstudy.studies import reading_views

app_name = "reading"
urlpatterns = [
    path("", reading_views.worklist_view, name="worklist"),
    path("<int:study_id>/instructions", reading_views.instructions_view, name="instructions"),
]
