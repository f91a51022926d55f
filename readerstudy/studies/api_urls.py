"""Routes of the reading API under /api/v1/ (items addressed by study, arm and position)."""

from django.urls import path

from readerstudy.studies import apis

ITEM = "studies/<int:study_id>/arms/<int:arm>/items/<int:pos>"

urlpatterns = [
    path("worklist", apis.WorklistApi.as_view(), name="reading-worklist"),
    path("studies/<int:study_id>/session", apis.SessionApi.as_view(), name="reading-session"),
    path("studies/<int:study_id>/finish", apis.FinishApi.as_view(), name="reading-finish"),
    path(ITEM, apis.ItemApi.as_view(), name="reading-item"),
    path(f"{ITEM}/read", apis.ReadApi.as_view(), name="reading-item-read"),
]
