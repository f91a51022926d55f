"""The reading API (/api/v1/): the reader's worklist, study session, items, reads and finishing.

Thin views: every rule lives in ``selectors`` (what a reader may see) and ``services`` (what a
reader may do). Every view is scoped to ``request.user``: anything outside the reader's own
assigned, open studies is 404; 403 only where the item is theirs but the action is not allowed
(a locked read, an arm still in its washout). Nothing here hands a reader an identifier: items
are addressed by (study, arm position, position in the reader's own order) and labelled with
neutral case numbers.

Errors: a ``ValidationError`` is 400 with the messages per field, a ``PermissionDenied`` 403
with its reason, ``ReadSubmissionConflict`` 409 with the fields that differ.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from readerstudy.cohorts.models import NodeCall
from readerstudy.studies import selectors, services
from readerstudy.studies.models import ImagingSign, Read, ReadingOrderEntry, StudyStatus

# Keyboard keys of the three calls, in the vocabulary's order (benign, metastasis, ENE).
CALL_KEYS = {call: str(key) for key, call in enumerate(NodeCall.values, start=1)}


def workstation_url(study_id: int) -> str:
    """The reader's workstation page (the viewer's own route)."""
    return f"/reading/{study_id}/"


def instructions_url(study_id: int) -> str:
    return f"/reading/{study_id}/instructions"


def images_url(entry: ReadingOrderEntry) -> str:
    """The item's image endpoint (served by the image API under the same address)."""
    study_id = entry.assignment.study_id
    return f"/api/v1/studies/{study_id}/arms/{entry.arm.position}/items/{entry.position}/images"


def _ai_panel_for(entry: ReadingOrderEntry) -> dict | None:
    """The model output shown with an item of an AI-aided arm, or None.

    ``settings.READING_AI_PANEL`` names the provider (the model registry's
    ``prediction_for_reader_item``): reading studies do not import the model apps, which import
    them. It returns ``{model, probabilities: {benign, metastasis, ene}}`` only for an entry
    whose arm shows model output; the item view records the first time it was shown
    (``services.reading_item_mark_ai_shown``).
    """
    provider = import_string(settings.READING_AI_PANEL)
    return provider(entry=entry)


class ItemRefSerializer(serializers.Serializer):
    arm = serializers.IntegerField()
    position = serializers.IntegerField()


class ReadOutSerializer(serializers.Serializer):
    call = serializers.CharField()
    confidence = serializers.IntegerField(allow_null=True)
    signs = serializers.ListField(child=serializers.CharField())
    saved_at = serializers.DateTimeField(source="updated_at")


class ReferenceSerializer(serializers.Serializer):
    call = serializers.CharField()
    label = serializers.CharField()


def _ref(ref: selectors.ItemRef | None) -> dict | None:
    return None if ref is None else {"arm": ref.arm, "position": ref.position}


def _read_out(read: Read | None) -> dict | None:
    return None if read is None else ReadOutSerializer(read).data


class ReadingApi(APIView):
    """Maps the services' exceptions to HTTP answers, the same for every reading endpoint."""

    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, services.ReadingUnfinished):
            return Response(
                {"detail": exc.messages[0], "unread": exc.unread},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, ValidationError):
            if hasattr(exc, "error_dict"):
                return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
            return Response({"detail": "; ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, services.ReadSubmissionConflict):
            return Response(
                {"detail": str(exc), "differing": list(exc.differing)},
                status=status.HTTP_409_CONFLICT,
            )
        if isinstance(exc, PermissionDenied) and exc.args and self.request.user.is_authenticated:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return super().handle_exception(exc)


def _state_out(state: selectors.ReadingState) -> dict:
    study = state.assignment.study
    return {
        "study_id": study.pk,
        "name": study.name,
        "status": study.status,
        "arm_position": state.current_arm.position,
        "arm_name": state.current_arm.name,
        "cases_total": state.cases_total,
        "cases_read": state.cases_read,
        "items_total": state.items_total,
        "items_read": state.items_read,
        "practice_total": state.practice_total,
        "practice_read": state.practice_read,
        "next_item": _ref(state.next_item),
        "next_position": state.next_item.position if state.next_item else None,
        "finished": state.finished,
        "arm_finished": state.arm_finished,
        "can_finish": state.can_finish,
        "available": state.access.open,
        "available_reason": state.access.reason,
        "opens_at": state.access.opens_at,
        "instructions_url": instructions_url(study.pk),
        "workstation_url": workstation_url(study.pk),
    }


class WorklistApi(ReadingApi):
    """The reader's assigned, open studies with their progress and next item."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReadingWorklistEntry"

        study_id = serializers.IntegerField()
        name = serializers.CharField()
        status = serializers.CharField()
        arm_position = serializers.IntegerField()
        arm_name = serializers.CharField()
        cases_total = serializers.IntegerField(
            help_text="cases (scans in patient mode), no practice"
        )
        cases_read = serializers.IntegerField(help_text="cases whose every item is read")
        items_total = serializers.IntegerField(help_text="calls to make (nodes), no practice")
        items_read = serializers.IntegerField()
        practice_total = serializers.IntegerField()
        practice_read = serializers.IntegerField()
        next_item = ItemRefSerializer(allow_null=True)
        next_position = serializers.IntegerField(allow_null=True)
        finished = serializers.BooleanField()
        arm_finished = serializers.BooleanField()
        can_finish = serializers.BooleanField()
        available = serializers.BooleanField()
        available_reason = serializers.CharField()
        opens_at = serializers.DateTimeField(allow_null=True)
        instructions_url = serializers.CharField()
        workstation_url = serializers.CharField()

    @extend_schema(tags=["reading"], responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        states = selectors.reading_worklist(reader=request.user)
        return Response(self.OutputSerializer([_state_out(s) for s in states], many=True).data)


class SessionApi(ReadingApi):
    """What the workstation needs to run a study for the reader: the questions and the state."""

    class OutputSerializer(WorklistApi.OutputSerializer):
        class Meta:
            ref_name = "ReadingSession"

        instructions = serializers.CharField()
        ask_confidence = serializers.BooleanField()
        ask_signs = serializers.BooleanField()
        signs = inline_serializer(
            "Sign", {"code": serializers.CharField(), "label": serializers.CharField()}, many=True
        )
        calls = inline_serializer(
            "Call",
            {
                "code": serializers.CharField(),
                "label": serializers.CharField(),
                "key": serializers.CharField(),
            },
            many=True,
        )
        allow_read_changes = serializers.BooleanField()
        randomisation_unit = serializers.CharField()
        design = serializers.CharField()
        shows_model_output = serializers.BooleanField()

    @extend_schema(tags=["reading"], responses=OutputSerializer)
    def get(self, request: Request, study_id: int) -> Response:
        assignment = selectors.reading_assignment_get(reader=request.user, study_id=study_id)
        state = selectors.reading_state(assignment=assignment)
        study = assignment.study
        data = {
            **_state_out(state),
            "instructions": study.instructions,
            "ask_confidence": study.ask_confidence,
            "ask_signs": study.ask_signs,
            "signs": [
                {"code": code, "label": label}
                for code, label in (ImagingSign.choices if study.ask_signs else [])
            ],
            "calls": [
                {"code": code, "label": label, "key": CALL_KEYS[code]}
                for code, label in NodeCall.choices
            ],
            "allow_read_changes": study.allow_read_changes,
            "randomisation_unit": study.randomisation_unit,
            "design": study.design,
            "shows_model_output": state.current_arm.shows_model_output,
        }
        return Response(self.OutputSerializer(data).data)


class ItemApi(ReadingApi):
    """One reading item: its neutral label, neighbours, the reader's own read, image URL."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReadingItem"

        position = serializers.IntegerField()
        arm = serializers.IntegerField()
        label = serializers.CharField()
        case_number = serializers.IntegerField()
        node_number = serializers.IntegerField()
        nodes_in_case = serializers.IntegerField()
        is_practice = serializers.BooleanField()
        previous = ItemRefSerializer(allow_null=True)
        next = ItemRefSerializer(allow_null=True)
        read = ReadOutSerializer(allow_null=True)
        locked = serializers.BooleanField()
        reference = ReferenceSerializer(allow_null=True, help_text="practice items only, once read")
        images_url = serializers.CharField()
        ai = serializers.DictField(allow_null=True)

    @extend_schema(tags=["reading"], responses=OutputSerializer)
    def get(self, request: Request, study_id: int, arm: int, pos: int) -> Response:
        entry = selectors.reading_item_get(
            reader=request.user, study_id=study_id, arm_position=arm, position=pos
        )
        services.reading_item_open(entry=entry)
        ai = _ai_panel_for(entry) if entry.arm.shows_model_output else None
        if ai is not None:
            services.reading_item_mark_ai_shown(entry=entry)
        read = selectors.reading_item_read(entry=entry)
        previous, following = selectors.reading_item_neighbours(entry=entry)
        nodes_in_case = selectors.reading_item_nodes_in_case(entry=entry)
        data = {
            "position": entry.position,
            "arm": entry.arm.position,
            "label": selectors.reading_item_label(
                case_number=entry.case_number,
                node_number=entry.node_number,
                nodes_in_case=nodes_in_case,
                is_practice=entry.case.is_practice,
                unit=entry.assignment.study.randomisation_unit,
            ),
            "case_number": entry.case_number,
            "node_number": entry.node_number,
            "nodes_in_case": nodes_in_case,
            "is_practice": entry.case.is_practice,
            "previous": _ref(previous),
            "next": _ref(following),
            "read": read,
            "locked": selectors.reading_item_locked(entry=entry, read=read),
            "reference": selectors.practice_reference(entry=entry) if read else None,
            "images_url": images_url(entry),
            "ai": ai,
        }
        return Response(self.OutputSerializer(data).data)


class ReadApi(ReadingApi):
    """Save (or change) the reader's call on an item; exactly once per idempotency key."""

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReadSubmission"

        call = serializers.ChoiceField(choices=NodeCall.choices)
        confidence = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=100
        )
        signs = serializers.ListField(
            child=serializers.ChoiceField(choices=ImagingSign.choices), required=False
        )
        active_seconds = serializers.FloatField(required=False, min_value=0, default=0.0)
        started_at = serializers.DateTimeField(required=False, allow_null=True)
        idempotency_key = serializers.UUIDField()

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReadSaved"

        read = ReadOutSerializer()
        changed = serializers.BooleanField()
        reference = ReferenceSerializer(allow_null=True, help_text="practice items only")

    @extend_schema(
        tags=["reading"],
        request=InputSerializer,
        responses={200: OutputSerializer, 201: OutputSerializer},
    )
    def put(self, request: Request, study_id: int, arm: int, pos: int) -> Response:
        entry = selectors.reading_item_lookup(
            reader=request.user, study_id=study_id, arm_position=arm, position=pos
        )
        if entry is None:
            return Response({"detail": "no such reading item"}, status=status.HTTP_404_NOT_FOUND)
        study = entry.assignment.study
        if study.status != StudyStatus.OPEN:
            # Their own item, but the study no longer takes reads.
            raise PermissionDenied(f"the study is {study.status}, not open for reading")
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        read, changed, created = services.reading_item_read_submit(
            entry=entry,
            call=data["call"],
            idempotency_key=data["idempotency_key"],
            confidence=data.get("confidence"),
            signs=data.get("signs", []),
            active_seconds=data.get("active_seconds", 0.0),
            started_at=data.get("started_at"),
        )
        out = {
            "read": read,
            "changed": changed,
            "reference": selectors.practice_reference(entry=entry),
        }
        return Response(
            self.OutputSerializer(out).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class FinishApi(ReadingApi):
    """ "Finish study": the part the reader is reading becomes final once every item is read."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReadingFinished"

        finished = serializers.BooleanField(help_text="the part just read is finished")
        study_finished = serializers.BooleanField(help_text="every arm of the study is finished")

    @extend_schema(tags=["reading"], request=None, responses=OutputSerializer)
    def post(self, request: Request, study_id: int) -> Response:
        assignment = selectors.reading_assignment_get(reader=request.user, study_id=study_id)
        services.reading_finish(assignment=assignment)
        state = selectors.reading_state(assignment=assignment)
        return Response(
            self.OutputSerializer({"finished": True, "study_finished": state.finished}).data
        )
