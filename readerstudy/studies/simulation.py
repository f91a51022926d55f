"""A simulated reader panel: generated reads, written through the workstation's ``read_submit``.

Used by ``manage.py simulate_reads`` and the demo so that a fresh installation has results to
show. The five profiles mirror the make-up of 001's panel (two radiologists, two radiation
oncologists, one nuclear medicine physician) and its qualitative findings: small ENE nodes of the
external cohort are harder (lower sensitivity for ENE there), specificity varies between readers,
the AI-aided arm helps a little. The numbers are illustrative, not fitted to 001.

Model (per reader, node and arm): a latent suspicion
``z = mean(reference) + node difficulty + reader noise``, where the node difficulty is shared by
every reader and arm (the same images) and the mean for ENE is lowered on external-cohort nodes
with a short axis under ``SMALL_NODE_MM``; the call is benign below the reader's ``benign_cut``,
ENE above ``ene_cut``, metastasis between. Confidence grows with the distance of z to the nearest
cut. Every random draw comes from a stream keyed by (seed, node, reader, arm), so the result does
not depend on the order of the work, and each read's idempotency key is a UUIDv5 of the same
key: running it again submits the same keys with the same payloads, which ``read_submit``
answers from its store without writing anything.

Simulated readers are users with ``is_simulated=True`` and no usable password; they are
labelled "simulated" wherever readers are listed.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction

from readerstudy.accounts.models import Role, User
from readerstudy.accounts.services import roles_ensure, user_role_set
from readerstudy.cohorts.models import Node, NodeCall
from readerstudy.studies.models import (
    ImagingSign,
    Read,
    ReaderAssignment,
    ReaderStudy,
    ReadingArm,
    StudyStatus,
)
from readerstudy.studies.services import read_submit

#: Nodes with a short axis below this (mm) count as small (001: small ENE nodes are missed).
SMALL_NODE_MM = 10.0

#: Namespace of the simulated reads' idempotency keys.
SIMULATION_NAMESPACE = uuid.UUID("8f1d6a52-2c5e-4e8e-9a4b-5b7d0c3f1e21")


@dataclass(frozen=True)
class SimulatedReaderProfile:
    """How one simulated reader reads.

    ``metastasis_mean`` / ``ene_mean``: latent means of metastatic nodes without / with ENE
    (benign = 0, noise SD 1); ``external_small_ene_penalty``: subtracted from ``ene_mean`` on
    small nodes of an external cohort; ``benign_cut`` / ``ene_cut``: decision thresholds (a
    higher ``benign_cut`` = more specific); ``aided_gain``: added to the mean of metastatic
    nodes in an arm that shows the model; ``seconds``: median time on task.
    """

    username: str
    first_name: str
    profession: str
    years: int
    metastasis_mean: float
    ene_mean: float
    external_small_ene_penalty: float
    benign_cut: float
    ene_cut: float
    aided_gain: float
    seconds: float


SIMULATED_PANEL: tuple[SimulatedReaderProfile, ...] = (
    SimulatedReaderProfile(
        "sim-reader-1", "Sim A", "head and neck radiologist", 16, 1.5, 2.6, 1.2, 0.9, 2.1, 0.3, 40
    ),
    SimulatedReaderProfile(
        "sim-reader-2", "Sim B", "radiologist", 15, 1.3, 2.3, 1.1, 0.6, 2.0, 0.4, 35
    ),
    SimulatedReaderProfile(
        "sim-reader-3", "Sim C", "radiation oncologist", 10, 1.1, 2.0, 1.0, 0.4, 1.9, 0.4, 55
    ),
    SimulatedReaderProfile(
        "sim-reader-4", "Sim D", "radiation oncologist", 5, 1.0, 1.8, 0.9, 1.2, 2.2, 0.5, 60
    ),
    SimulatedReaderProfile(
        "sim-reader-5", "Sim E", "nuclear medicine physician", 15, 1.2, 2.1, 1.0, 0.2, 1.7, 0.4, 45
    ),
)

#: Shared node difficulty SD (the same for every reader and arm: the same images).
NODE_DIFFICULTY_SD = 0.6


def _stream(*parts: int) -> np.random.Generator:
    return np.random.default_rng([int(p) for p in parts])


def _username_number(username: str) -> int:
    return int.from_bytes(hashlib.sha256(username.encode()).digest()[:8], "big")


def _is_external(cohort_name: str, institution: str) -> bool:
    """A cohort counts as external when its name or institution says so (the demo's
    synthetic "external" cohort); the first (derivation) cohort is internal."""
    return "external" in f"{cohort_name} {institution}".lower()


def simulated_readers_ensure(
    *, panel: Sequence[SimulatedReaderProfile] = SIMULATED_PANEL
) -> list[User]:
    """Create (or bring up to date) the simulated readers: reader role, no usable password."""
    groups = roles_ensure()
    users = []
    with transaction.atomic():
        for profile in panel:
            user, _ = User.objects.get_or_create(username=profile.username)
            user.first_name = profile.first_name
            user.last_name = "(simulated)"
            user.profession = profile.profession
            user.years_of_experience = profile.years
            user.is_simulated = True
            user.set_unusable_password()
            user.save()
            users.append(user_role_set(user=user, role=Role.READER, groups=groups))
    return users


@dataclass(frozen=True)
class SimulatedRead:
    """What a simulated reader submits for one node in one arm."""

    call: str
    confidence: int | None
    signs: list[str]
    active_seconds: float
    idempotency_key: uuid.UUID


def simulated_read_draw(
    *,
    profile: SimulatedReaderProfile,
    seed: int,
    study_id: int,
    node_id: int,
    reference: str,
    external: bool,
    short_axis_mm: float,
    arm_position: int,
    aided: bool,
    ask_confidence: bool,
    ask_signs: bool,
) -> SimulatedRead:
    """One simulated read, a pure function of its arguments (see the module docstring)."""
    difficulty = _stream(seed, node_id).normal(0.0, NODE_DIFFICULTY_SD)
    rng = _stream(seed, node_id, _username_number(profile.username), arm_position)
    mean = {
        NodeCall.BENIGN.value: 0.0,
        NodeCall.METASTASIS.value: profile.metastasis_mean,
        NodeCall.ENE.value: profile.ene_mean,
    }[reference]
    if reference == NodeCall.ENE.value and external and short_axis_mm < SMALL_NODE_MM:
        mean -= profile.external_small_ene_penalty
    if aided and reference != NodeCall.BENIGN.value:
        mean += profile.aided_gain
    z = mean + difficulty + rng.normal(0.0, 1.0)
    if z < profile.benign_cut:
        call = NodeCall.BENIGN.value
    elif z < profile.ene_cut:
        call = NodeCall.METASTASIS.value
    else:
        call = NodeCall.ENE.value
    margin = min(abs(z - profile.benign_cut), abs(z - profile.ene_cut))
    confidence = int(round(50 + 50 * (1 - math.exp(-1.5 * margin)))) if ask_confidence else None
    signs: list[str] = []
    if ask_signs and call == NodeCall.ENE.value:
        options = [
            ImagingSign.INDISTINCT_MARGINS.value,
            ImagingSign.PERINODAL_FAT_STRANDING.value,
            ImagingSign.CENTRAL_NECROSIS.value,
            ImagingSign.MATTING.value,
        ]
        count = int(rng.integers(1, 3))
        signs = sorted(str(s) for s in rng.choice(options, size=count, replace=False))
    seconds = round(float(profile.seconds * math.exp(rng.normal(0.0, 0.4))), 1)
    key = uuid.uuid5(
        SIMULATION_NAMESPACE,
        f"simulate_reads:{seed}:{study_id}:{profile.username}:{arm_position}:{node_id}",
    )
    return SimulatedRead(call, confidence, signs, seconds, key)


@dataclass(frozen=True)
class SimulationOutcome:
    readers: int
    submitted: int
    already_present: int


def study_reads_simulate(
    *,
    study: ReaderStudy,
    seed: int = 0,
    panel: Sequence[SimulatedReaderProfile] = SIMULATED_PANEL,
    say: Callable[[str], None] = lambda line: None,
) -> SimulationOutcome:
    """Submit every simulated reader's reads of every node in every arm of an open study.

    Only the study's assigned readers with ``is_simulated`` read (real readers are never read
    for); each must have a profile in ``panel`` (matched by username). Reads go through
    :func:`readerstudy.studies.services.read_submit`, so they are validated, audited and
    exactly-once like a person's. Idempotent: reads already stored under the simulation's key
    are skipped; reads a simulated reader has under another key (e.g. another seed) are
    changed, with an audit event.
    """
    if study.status != StudyStatus.OPEN:
        raise ValidationError(f"study {study.name!r} is {study.status}; reads need an open study")
    profiles = {profile.username: profile for profile in panel}
    assignments = list(
        ReaderAssignment.objects.filter(study=study, reader__is_simulated=True)
        .select_related("reader")
        .order_by("code")
    )
    if not assignments:
        raise ValidationError(
            f"study {study.name!r} has no simulated readers; assign them (simulated_readers_ensure"
            ", then study_assign_readers) while it is a draft"
        )
    unknown = [a.reader.username for a in assignments if a.reader.username not in profiles]
    if unknown:
        raise ValidationError({"readers": f"no simulation profile for {', '.join(unknown)}"})
    nodes = list(
        Node.objects.filter(study_cases__study=study)
        .select_related("reference", "series__patient__cohort")
        .order_by("pk")
    )
    missing_reference = [n.pk for n in nodes if not hasattr(n, "reference")]
    if missing_reference:
        raise ValidationError(
            {"nodes": f"node(s) {missing_reference[:5]} have no reference standard to simulate"}
        )
    arms: list[ReadingArm] = list(study.arms.order_by("position"))
    existing = set(
        Read.objects.filter(
            arm__study=study, reader__in=[a.reader for a in assignments]
        ).values_list("idempotency_key", flat=True)
    )
    submitted = present = 0
    for assignment in assignments:
        profile = profiles[assignment.reader.username]
        for arm in arms:
            for node in nodes:
                cohort = node.series.patient.cohort
                draw = simulated_read_draw(
                    profile=profile,
                    seed=seed,
                    study_id=study.pk,
                    node_id=node.pk,
                    reference=node.reference.call,
                    external=_is_external(cohort.name, cohort.institution),
                    short_axis_mm=node.short_axis_mm,
                    arm_position=arm.position,
                    aided=arm.shows_model_output,
                    ask_confidence=study.ask_confidence,
                    ask_signs=study.ask_signs,
                )
                if draw.idempotency_key in existing:
                    present += 1
                    continue
                read_submit(
                    reader=assignment.reader,
                    arm=arm,
                    node=node,
                    call=draw.call,
                    idempotency_key=draw.idempotency_key,
                    confidence=draw.confidence,
                    signs=draw.signs,
                    active_seconds=draw.active_seconds,
                )
                submitted += 1
        say(f"simulated reader {assignment.code} ({assignment.reader.username}): done")
    return SimulationOutcome(readers=len(assignments), submitted=submitted, already_present=present)
