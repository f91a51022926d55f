from django.urls import path

from readerstudy.results import views

app_name = "results"
urlpatterns = [
    path("<int:study_id>/results/", views.dashboard_view, name="dashboard"),
    path("<int:study_id>/results/reads.csv", views.reads_csv_view, name="reads-csv"),
    path(
        "<int:study_id>/results/reads-dictionary.md",
        views.data_dictionary_view,
        name="data-dictionary",
    ),
    path("<int:study_id>/results/analysis.json", views.analysis_json_view, name="analysis-json"),
    path("<int:study_id>/results/report.pdf", views.report_pdf_view, name="report-pdf"),
    path("<int:study_id>/results/imrmc/", views.imrmc_view, name="imrmc"),
    path("<int:study_id>/results/mrmcaov.csv", views.mrmcaov_view, name="mrmcaov"),
]
