from django.urls import include, path

from readerstudy.imaging import apis

app_name = "imaging"
_item = "studies/<int:study_id>/arms/<int:arm>/items/<int:pos>/images"
urlpatterns = [
    path("dicomweb/", include("readerstudy.imaging.dicomweb_urls")),
    path(_item, apis.ItemImagesApi.as_view(), name="item-images"),
    path(f"{_item}/slices/<int:index>", apis.ItemSliceApi.as_view(), name="item-slice"),
    path(f"{_item}/outline", apis.ItemOutlineApi.as_view(), name="item-outline"),
    path(
        f"{_item}/coronal",
        apis.ItemReformatApi.as_view(plane="coronal"),
        name="item-coronal",
    ),
    path(
        f"{_item}/sagittal",
        apis.ItemReformatApi.as_view(plane="sagittal"),
        name="item-sagittal",
    ),
]
