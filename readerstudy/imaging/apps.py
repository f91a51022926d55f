from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "readerstudy.imaging"
    verbose_name = "Images (reader endpoints and DICOMweb)"
