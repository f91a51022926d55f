"""Image endpoints of a reader's reading item. Thin: ``selectors`` decides and reads.

Every URL names the item by the reader's own (study, arm, position), never a node, series or
UID; a reader gets 404 for anything outside their assigned, open studies.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from readerstudy.imaging import selectors
from readerstudy.imaging.blinding import DEFAULT_WINDOW, opaque_key
from readerstudy.imaging.geometry import Plane

DICOM = "application/dicom"
# Browsers may keep a reader's images for the session (Cornerstone's cache does the rest), but
# never in a shared cache: they are per user.
IMAGE_CACHE_CONTROL = "private, max-age=3600"


class AnyAccept(BaseContentNegotiation):
    """Answer errors as JSON whatever Accept says: an image client asks for application/dicom,
    and DRF would otherwise refuse with 406 before the view runs."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return (renderers[0], renderers[0].media_type)


def dicom_response(content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type=DICOM)
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    response["Content-Length"] = str(len(content))
    return response


class ItemApi(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept

    def entry(self, request: Request, study_id: int, arm: int, pos: int):
        return selectors.reading_item_get(
            reader=request.user, study_id=study_id, arm_position=arm, position=pos
        )


def _item_url(name: str, study_id: int, arm: int, pos: int, **extra: object) -> str:
    return reverse(
        f"imaging:{name}", kwargs={"study_id": study_id, "arm": arm, "pos": pos, **extra}
    )


class ItemImagesApi(ItemApi):
    """GET what the viewer needs to show an item's scan: geometry, slice URLs, the node's place."""

    class NodeSerializer(serializers.Serializer):
        central_slice = serializers.IntegerField()
        centroid = serializers.ListField(child=serializers.FloatField())
        bbox = serializers.ListField(child=serializers.IntegerField())

    class OutputSerializer(serializers.Serializer):
        label = serializers.CharField()
        slice_count = serializers.IntegerField()
        rows = serializers.IntegerField()
        columns = serializers.IntegerField()
        row_spacing_mm = serializers.FloatField()
        column_spacing_mm = serializers.FloatField()
        slice_spacing_mm = serializers.FloatField()
        node = serializers.DictField()
        slices = serializers.ListField(child=serializers.CharField())
        outline_url = serializers.CharField()
        reformats = serializers.DictField(child=serializers.CharField())
        reformat_rows_descending = serializers.BooleanField(
            help_text="row 0 of a reformat is the last slice (head at the top)"
        )
        reformat_through = serializers.DictField(child=serializers.IntegerField())
        default_window = serializers.DictField(child=serializers.IntegerField())
        image_set_key = serializers.CharField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, study_id: int, arm: int, pos: int) -> Response:
        entry = self.entry(request, study_id, arm, pos)
        node = entry.case.node
        series = node.series
        view = selectors.item_series_view(entry)
        planes = selectors.node_planes(node)
        geometry = selectors.series_geometry(series)
        address = (study_id, arm, pos)
        data = {
            "label": view.label,
            "slice_count": series.slice_count,
            "rows": series.rows,
            "columns": series.columns,
            "row_spacing_mm": series.pixel_spacing_row_mm,
            "column_spacing_mm": series.pixel_spacing_column_mm,
            "slice_spacing_mm": series.slice_spacing_mm,
            "node": {
                "central_slice": selectors.central_slice(node),
                "centroid": [float(v) for v in node.centroid_voxel],
                "bbox": [int(v) for v in node.bbox],
            },
            "slices": [
                _item_url("item-slice", *address, index=i) for i in range(series.slice_count)
            ],
            "outline_url": _item_url("item-outline", *address),
            "reformats": {
                plane: _item_url(f"item-{plane}", *address) for plane in ("coronal", "sagittal")
            },
            "reformat_rows_descending": geometry.rows_descending,
            "reformat_through": {
                "coronal_row": planes["coronal"].through,
                "sagittal_column": planes["sagittal"].through,
            },
            "default_window": dict(DEFAULT_WINDOW),
            "image_set_key": opaque_key(series.series_instance_uid, key=view.key or b""),
        }
        return Response(self.OutputSerializer(data).data)


class ItemSliceApi(ItemApi):
    """GET one axial slice of the item's scan: a blinded DICOM file (explicit VR little endian)."""

    @extend_schema(responses={(200, DICOM): OpenApiResponse(description="DICOM Part 10 file")})
    def get(self, request: Request, study_id: int, arm: int, pos: int, index: int) -> HttpResponse:
        entry = self.entry(request, study_id, arm, pos)
        view = selectors.item_series_view(entry)
        stored = selectors.stored_slice_get(series=view.series, index=index)
        return dicom_response(view.instance_bytes(stored))


class ItemOutlineApi(ItemApi):
    """GET the current node's outline: polygons per axial slice, on the coronal and sagittal."""

    class OutputSerializer(serializers.Serializer):
        slices = serializers.DictField()
        coronal = serializers.ListField()
        sagittal = serializers.ListField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, study_id: int, arm: int, pos: int) -> Response:
        entry = self.entry(request, study_id, arm, pos)
        response = Response(selectors.node_outline_get(entry.case.node))
        response["Cache-Control"] = IMAGE_CACHE_CONTROL
        return response


class ItemReformatApi(ItemApi):
    """GET a coronal or sagittal reformat through the node's centroid, as a blinded DICOM file."""

    plane: Plane = "coronal"

    @extend_schema(responses={(200, DICOM): OpenApiResponse(description="DICOM Part 10 file")})
    def get(self, request: Request, study_id: int, arm: int, pos: int) -> HttpResponse:
        entry = self.entry(request, study_id, arm, pos)
        return dicom_response(selectors.item_reformat_bytes(entry=entry, plane=self.plane))
