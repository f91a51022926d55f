"""The simulated reader panel (manage.py simulate_reads): counts, determinism, idempotency, the
expected direction of its sensitivities, and labelling."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from readerstudy.accounts.models import Role, User
from readerstudy.studies import services
from readerstudy.studies.models import Read, ReadEvent
from readerstudy.studies.simulation import (
    SIMULATED_PANEL,
    simulated_read_draw,
    simulated_readers_ensure,
    study_reads_simulate,
)
from tests.results_factory import db_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(make_user):
    internal = db_cohort(name="internal", patients=5, seed=1)
    external = db_cohort(name="external", patients=5, seed=2, institution="external site")
    person = make_user(Role.READER, "person")
    study = services.study_create(
        name="sim study",
        cohorts=[internal, external],
        arms=[services.ArmSpec("unaided"), services.ArmSpec("AI-aided", shows_model_output=True)],
        ask_confidence=True,
        ask_signs=True,
        order_seed=7,
    )
    services.study_assign_readers(study=study, readers=[person, *simulated_readers_ensure()])
    return services.study_open(study=study)


def test_panel_reads_everything_once_deterministically(study) -> None:
    nodes = study.cases.count()
    outcome = study_reads_simulate(study=study, seed=3)
    assert outcome.readers == 5 and outcome.submitted == 5 * 2 * nodes
    assert Read.objects.filter(arm__study=study).count() == 5 * 2 * nodes
    # the real reader is never read for
    assert not Read.objects.filter(reader__username="person").exists()
    events = ReadEvent.objects.count()

    again = study_reads_simulate(study=study, seed=3)
    assert again.submitted == 0 and again.already_present == 5 * 2 * nodes
    assert ReadEvent.objects.count() == events  # nothing written

    # every stored read is the pure draw of its (seed, node, reader, arm)
    for read in Read.objects.filter(arm__study=study).select_related(
        "reader", "arm", "node__reference", "node__series__patient__cohort"
    )[:200]:
        profile = next(p for p in SIMULATED_PANEL if p.username == read.reader.username)
        draw = simulated_read_draw(
            profile=profile,
            seed=3,
            study_id=study.pk,
            node_id=read.node_id,
            reference=read.node.reference.call,
            external=read.node.series.patient.cohort.name == "external",
            short_axis_mm=read.node.short_axis_mm,
            arm_position=read.arm.position,
            aided=read.arm.shows_model_output,
            ask_confidence=True,
            ask_signs=True,
        )
        assert (read.call, read.confidence, read.signs, read.idempotency_key) == (
            draw.call,
            draw.confidence,
            draw.signs,
            draw.idempotency_key,
        )


def _panel_reads(*, reference: str, external: bool, short: float, aided: bool = False):
    """Draws of the whole panel for 400 nodes of one kind (the pure function, no database)."""
    return [
        (profile.username, draw.call)
        for profile in SIMULATED_PANEL
        for node_id in range(400)
        for draw in [
            simulated_read_draw(
                profile=profile,
                seed=0,
                study_id=1,
                node_id=node_id,
                reference=reference,
                external=external,
                short_axis_mm=short,
                arm_position=2 if aided else 1,
                aided=aided,
                ask_confidence=False,
                ask_signs=False,
            )
        ]
    ]


def _share(reads, call: str, username: str | None = None) -> float:
    picked = [c for u, c in reads if username is None or u == username]
    return sum(c == call for c in picked) / len(picked)


def test_sensitivities_go_the_expected_way() -> None:
    internal = _panel_reads(reference="ene", external=False, short=8.0)
    external_small = _panel_reads(reference="ene", external=True, short=8.0)
    external_large = _panel_reads(reference="ene", external=True, short=15.0)
    # 001: small ENE nodes of the external cohort are missed more often
    assert _share(external_small, "ene") < _share(internal, "ene") - 0.15
    assert _share(external_large, "ene") == pytest.approx(_share(internal, "ene"), abs=0.06)
    # specificity varies between readers
    benign = _panel_reads(reference="benign", external=False, short=8.0)
    specificity = [_share(benign, "benign", p.username) for p in SIMULATED_PANEL]
    assert max(specificity) - min(specificity) > 0.15
    # the AI-aided arm finds more metastases
    unaided = _panel_reads(reference="metastasis", external=False, short=12.0)
    aided = _panel_reads(reference="metastasis", external=False, short=12.0, aided=True)
    assert _share(aided, "benign") < _share(unaided, "benign") - 0.05


def test_command_and_labels(make_user, capsys, client) -> None:
    cohort = db_cohort(name="tiny external", patients=2, seed=9)
    study = services.study_create(name="tiny", cohorts=[cohort], order_seed=2)
    services.study_assign_readers(study=study, readers=simulated_readers_ensure())
    study = services.study_open(study=study)
    call_command("simulate_reads", str(study.pk), "--seed", "5")
    out = capsys.readouterr().out
    assert "5 simulated readers" in out and "reads submitted" in out
    call_command("simulate_reads", study.name, "--seed", "5")
    assert "0 reads submitted" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no reader study"):
        call_command("simulate_reads", "no such study")
    sim = User.objects.get(username="sim-reader-1")
    assert sim.is_simulated and not sim.has_usable_password() and sim.has_role(Role.READER)
    assert "simulated" in sim.get_full_name()
    client.force_login(make_user(Role.COORDINATOR, "coord"))
    page = client.get(f"/studies/{study.pk}/").content.decode()
    assert page.count(">simulated</span>") == 5


def test_study_without_simulated_readers_is_refused(make_user) -> None:
    cohort = db_cohort(name="solo", patients=3, seed=4)
    study = services.study_create(name="people only", cohorts=[cohort], order_seed=1)
    services.study_assign_readers(study=study, readers=[make_user(Role.READER, "p1")])
    with pytest.raises(ValidationError, match="open study"):
        study_reads_simulate(study=study)
    study = services.study_open(study=study)
    with pytest.raises(ValidationError, match="no simulated readers"):
        study_reads_simulate(study=study)
    assert not Read.objects.exists()
