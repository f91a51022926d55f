from django.urls import path

from readerstudy.console import views

app_name = "console"
urlpatterns = [
    path("", views.console_home, name="home"),
    path("studies/new/", views.study_new, name="study-new"),
    path("studies/<int:study_id>/", views.study_manage, name="study"),
    path("studies/<int:study_id>/edit/", views.study_edit, name="study-edit"),
    path("studies/<int:study_id>/assign/", views.study_assign, name="study-assign"),
    path(
        "studies/<int:study_id>/unassign/<int:user_id>/",
        views.study_unassign,
        name="study-unassign",
    ),
    path("studies/<int:study_id>/open/", views.study_open, name="study-open"),
    path("studies/<int:study_id>/close/", views.study_close, name="study-close"),
    path("readers/", views.reader_list, name="readers"),
    path("readers/<int:user_id>/link/", views.reader_link, name="reader-link"),
]
