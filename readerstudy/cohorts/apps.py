from django.apps import AppConfig


class CohortsConfig(AppConfig):
    name = "readerstudy.cohorts"
    label = "cohorts"
