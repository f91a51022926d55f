from django.apps import AppConfig


class AimodelsConfig(AppConfig):
    name = "readerstudy.aimodels"
    label = "aimodels"
    verbose_name = "AI models"
