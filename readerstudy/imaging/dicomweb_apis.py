"""DICOMweb (PS3.18) over the images a user may see: QIDO-RS search and WADO-RS retrieve.

Readers see, for each of their assigned, open studies, its scans under neutral labels and UIDs
re-keyed for them; users who may see whole cohorts see every stored series under its stored
(de-identified) UIDs and pseudonyms (``selectors.dicomweb_series_list``). Everyone else: 401
without credentials, empty searches and 404s otherwise. "Authorization: Token <key>" is tried
first, so that OHIF, 3D Slicer and scripts can connect; a browser session works too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from readerstudy.cohorts.models import CTSlice
from readerstudy.imaging import dicomweb, selectors
from readerstudy.imaging.apis import IMAGE_CACHE_CONTROL, AnyAccept
from readerstudy.imaging.dicomweb import (
    DICOM_JSON,
    DICOM_PART,
    INSTANCE_KEYS,
    OCTET_PART,
    SERIES_KEYS,
    STUDY_KEYS,
    Multipart,
    Query,
)
from readerstudy.imaging.selectors import SeriesView


def _json(results: list[dict], *, ignored: Iterable[str] = ()) -> HttpResponse:
    response = HttpResponse(json.dumps(results), content_type=DICOM_JSON)
    response["Cache-Control"] = "private, no-cache"
    ignored = list(ignored)
    if ignored:
        # PS3.18 8.3.4.2: unsupported matching keys are ignored and named in a warning.
        response["Warning"] = (
            f'299 readerstudy "The following attributes were not used for matching: '
            f'{", ".join(ignored)}"'
        )
    return response


def _multipart(part_type: str, parts: Iterable[bytes]) -> StreamingHttpResponse:
    multipart = Multipart.new(part_type)
    response = StreamingHttpResponse(multipart.body(parts), content_type=multipart.content_type)
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


class DicomwebApi(APIView):
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept

    def views(
        self, request: Request, study_uid: str = "", series_uid: str = ""
    ) -> list[SeriesView]:
        return selectors.dicomweb_series_list(
            user=request.user,
            study_uids=[study_uid] if study_uid else [],
            series_uids=[series_uid] if series_uid else [],
        )

    def one_series(self, request: Request, study_uid: str, series_uid: str) -> SeriesView:
        views = self.views(request, study_uid, series_uid)
        if not views:
            raise NotFound("no such series")
        return views[0]

    def instance(
        self, request: Request, study_uid: str, series_uid: str, instance_uid: str
    ) -> tuple[SeriesView, CTSlice]:
        view = self.one_series(request, study_uid, series_uid)
        stored = view.instance_uids.get(instance_uid)
        if stored is None:
            raise NotFound("no such instance")
        return view, stored

    def query(self, request: Request, *levels: frozenset[str]) -> Query:
        try:
            return dicomweb.query_parse(
                request.query_params, allowed=dicomweb.supported_keys(*levels)
            )
        except dicomweb.QueryError as exc:
            raise ParseError(str(exc)) from exc


# --- QIDO-RS ---------------------------------------------------------------------------------


class SearchStudiesApi(DicomwebApi):
    """QIDO-RS: search for studies."""

    @extend_schema(responses={(200, DICOM_JSON): dict})
    def get(self, request: Request) -> HttpResponse:
        query = self.query(request, STUDY_KEYS)
        studies = [dicomweb.study_result(views) for views in _by_study(self.views(request))]
        return _json(dicomweb.json_list(dicomweb.filtered(studies, query)), ignored=query.ignored)


class SearchSeriesApi(DicomwebApi):
    """QIDO-RS: search for series (of one study, or of all)."""

    @extend_schema(responses={(200, DICOM_JSON): dict})
    def get(self, request: Request, study_uid: str = "") -> HttpResponse:
        query = self.query(request, STUDY_KEYS, SERIES_KEYS)
        views = self.views(request, study_uid)
        if study_uid and not views:
            raise NotFound("no such study")
        results = [dicomweb.series_result(view) for view in views]
        return _json(dicomweb.json_list(dicomweb.filtered(results, query)), ignored=query.ignored)


class SearchInstancesApi(DicomwebApi):
    """QIDO-RS: search for instances (of one series, of one study, or of all)."""

    @extend_schema(responses={(200, DICOM_JSON): dict})
    def get(self, request: Request, study_uid: str = "", series_uid: str = "") -> HttpResponse:
        query = self.query(request, STUDY_KEYS, SERIES_KEYS, INSTANCE_KEYS)
        views = self.views(request, study_uid, series_uid)
        if (study_uid or series_uid) and not views:
            raise NotFound("no such study or series")
        results = [
            dicomweb.instance_result(view, uid, stored)
            for view in views
            for uid, stored in view.instance_uids.items()
        ]
        return _json(dicomweb.json_list(dicomweb.filtered(results, query)), ignored=query.ignored)


def _by_study(views: list[SeriesView]) -> list[list[SeriesView]]:
    grouped: dict[str, list[SeriesView]] = {}
    for view in views:
        grouped.setdefault(view.study_uid, []).append(view)
    return list(grouped.values())


# --- WADO-RS ---------------------------------------------------------------------------------


def _instances(views: list[SeriesView]) -> Iterable[tuple[SeriesView, CTSlice]]:
    for view in views:
        for stored in view.instance_uids.values():
            yield view, stored


class RetrieveStudyApi(DicomwebApi):
    """WADO-RS: every instance of a study (multipart/related; type="application/dicom")."""

    def get(self, request: Request, study_uid: str) -> StreamingHttpResponse:
        views = self.views(request, study_uid)
        if not views:
            raise NotFound("no such study")
        return _multipart(DICOM_PART, (v.instance_bytes(s) for v, s in _instances(views)))


class RetrieveSeriesApi(DicomwebApi):
    """WADO-RS: every instance of a series."""

    def get(self, request: Request, study_uid: str, series_uid: str) -> StreamingHttpResponse:
        view = self.one_series(request, study_uid, series_uid)
        return _multipart(DICOM_PART, (view.instance_bytes(s) for _, s in _instances([view])))


class RetrieveInstanceApi(DicomwebApi):
    """WADO-RS: one instance."""

    def get(
        self, request: Request, study_uid: str, series_uid: str, instance_uid: str
    ) -> StreamingHttpResponse:
        view, stored = self.instance(request, study_uid, series_uid, instance_uid)
        return _multipart(DICOM_PART, [view.instance_bytes(stored)])


class RetrieveFramesApi(DicomwebApi):
    """WADO-RS: frames of an instance as raw little-endian pixel data (these are single-frame)."""

    def get(
        self, request: Request, study_uid: str, series_uid: str, instance_uid: str, frames: str
    ) -> StreamingHttpResponse:
        view, stored = self.instance(request, study_uid, series_uid, instance_uid)
        numbers = frames.split(",")
        if any(n.strip() != "1" for n in numbers):
            raise NotFound(f"frames: {frames!r}; these instances have one frame (number 1)")
        pixels = bytes(view.instance_dataset(stored, pixels=True).PixelData)
        return _multipart(OCTET_PART, [pixels for _ in numbers])


class MetadataApi(DicomwebApi):
    """WADO-RS metadata (DICOM JSON without pixel data) of a study, a series or an instance."""

    @extend_schema(responses={(200, DICOM_JSON): dict})
    def get(
        self, request: Request, study_uid: str, series_uid: str = "", instance_uid: str = ""
    ) -> HttpResponse:
        if instance_uid:
            pairs: Iterable[tuple[SeriesView, CTSlice]] = [
                self.instance(request, study_uid, series_uid, instance_uid)
            ]
        else:
            views = self.views(request, study_uid, series_uid)
            if not views:
                raise NotFound("no such study or series")
            pairs = _instances(views)
        results = [
            dicomweb.without_pixels(view.instance_dataset(stored, pixels=False))
            for view, stored in pairs
        ]
        response = _json(results)
        response["Cache-Control"] = IMAGE_CACHE_CONTROL
        return response
