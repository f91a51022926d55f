"""/api/v1/models/: model versions and their predictions for coordinators and statisticians
(``aimodels.view_modelversion`` / ``aimodels.view_prediction``); readers get 403."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from readerstudy.aimodels import selectors
from readerstudy.cohorts.models import Cohort


class SeesModels(BasePermission):
    def has_permission(self, request, view) -> bool:
        return selectors.sees_models(request.user)


class SeesPredictions(BasePermission):
    def has_permission(self, request, view) -> bool:
        return selectors.sees_predictions(request.user)


class _VersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    kind = serializers.CharField()
    training_cohort = serializers.CharField(source="training_cohort.name", default=None)
    seed = serializers.IntegerField()
    n_folds = serializers.IntegerField()
    bundle_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()


class ModelVersionListApi(APIView):
    permission_classes = [IsAuthenticated, SeesModels]

    @extend_schema(responses=_VersionSerializer(many=True))
    def get(self, request) -> Response:
        versions = selectors.model_version_list(user=request.user)
        return Response(_VersionSerializer(versions, many=True).data)


class ModelVersionDetailApi(APIView):
    permission_classes = [IsAuthenticated, SeesModels]

    class OutputSerializer(_VersionSerializer):
        files = serializers.DictField(child=serializers.CharField())
        config = serializers.DictField()
        code_sha256 = serializers.CharField()
        git_commit = serializers.CharField()
        versions = serializers.DictField()
        oof_metrics = serializers.DictField()
        intended_use = serializers.CharField()

        class Meta:
            ref_name = "ModelVersionDetail"

    @extend_schema(responses=OutputSerializer)
    def get(self, request, version_id: int) -> Response:
        version = selectors.model_version_get(user=request.user, version_id=version_id)
        if version is None:
            raise Http404("no such model version")
        return Response(self.OutputSerializer(version).data)


class PredictionListApi(APIView):
    """A version's predictions, optionally of one cohort (?cohort=ID)."""

    permission_classes = [IsAuthenticated, SeesPredictions]

    class OutputSerializer(serializers.Serializer):
        node_id = serializers.IntegerField()
        node = serializers.CharField(source="node.label")
        patient = serializers.CharField(source="node.series.patient.pseudonym")
        cohort = serializers.IntegerField(source="node.series.patient.cohort_id")
        p_benign = serializers.FloatField()
        p_metastasis = serializers.FloatField()
        p_ene = serializers.FloatField()

        class Meta:
            ref_name = "ModelPrediction"

        out_of_fold = serializers.BooleanField()
        fold = serializers.IntegerField(allow_null=True)

    @extend_schema(
        parameters=[OpenApiParameter("cohort", int, required=False)],
        responses=OutputSerializer(many=True),
    )
    def get(self, request, version_id: int) -> Response:
        version = selectors.model_version_get(user=request.user, version_id=version_id)
        if version is None:
            raise Http404("no such model version")
        cohort = None
        if "cohort" in request.query_params:
            raw = request.query_params["cohort"]
            if not raw.isdigit():
                return Response({"cohort": "must be a cohort id"}, status=400)
            cohort = get_object_or_404(Cohort, pk=int(raw))
        rows = selectors.prediction_list(user=request.user, version=version, cohort=cohort)
        return Response(self.OutputSerializer(rows, many=True).data)
