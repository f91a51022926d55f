from django.urls import path

from readerstudy.aimodels import views

app_name = "aimodels"
urlpatterns = [
    path("", views.model_list_view, name="list"),
    path("<int:version_id>/", views.model_card_view, name="card"),
    path(
        "<int:version_id>/predictions/<int:cohort_id>.csv",
        views.predictions_csv_view,
        name="predictions-csv",
    ),
    path(
        "<int:version_id>/nodes/<int:node_id>/attribution/",
        views.attribution_view,
        name="attribution",
    ),
    path(
        "<int:version_id>/nodes/<int:node_id>/attribution.png",
        views.attribution_png_view,
        name="attribution-png",
    ),
    path("runs/", views.run_list_view, name="runs"),
    path("runs/status.json", views.run_status_view, name="runs-status"),
    path("train/", views.train_view, name="train"),
    path("predict/", views.predict_view, name="predict"),
    path(
        "runs/training/<int:training_run_id>/cancel/",
        views.training_cancel_view,
        name="training-cancel",
    ),
    path(
        "runs/prediction/<int:prediction_run_id>/cancel/",
        views.prediction_cancel_view,
        name="prediction-cancel",
    ),
]
