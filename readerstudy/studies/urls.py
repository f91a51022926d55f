from django.urls import path

from readerstudy.studies import views

app_name = "studies"
urlpatterns = [
    path("", views.study_list_view, name="list"),
    path("<int:study_id>/", views.study_detail_view, name="detail"),
]
