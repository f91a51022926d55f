"""Every URL of the project, for every role, answers as the access table says.

The walk iterates the URL resolver (site, auth, API and every Django admin route), fills path
parameters with real objects and GETs each URL as each role. A route with no row in EXPECTED
fails the test: a new page must say who may open it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from readerstudy.accounts.models import Role
from readerstudy.aimodels.models import ModelVersion, PredictionRun, TrainingRun
from readerstudy.cohorts.models import CTSlice, ImportJob
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from readerstudy.studies.models import Read
from tests.cohort_factory import write_cohort

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "reader_assigned",
    "reader_unassigned",
    "coordinator",
    "statistician",
    "admin",
)

# Status per role, in the order of ROLES.
ALL = lambda code: (code,) * 6  # noqa: E731 - a table helper
LOGIN_FIRST = lambda code: (302, code, code, code, code, code)  # noqa: E731
# Django admin: anyone not staff is sent to the admin login; then per staff role.
STAFF = lambda coordinator, admin: (302, 302, 302, coordinator, 302, admin)  # noqa: E731


def _model_routes(prefix: str, coordinator: tuple, admin: tuple) -> dict[str, tuple]:
    """The admin's routes of one model: changelist, add, change, delete, history, redirect."""
    views = ("changelist", "add", "change", "delete", "history")
    app, model = prefix.split("_", 1)
    routes = {
        f"admin:{prefix}_{view}": STAFF(c, a)
        for view, c, a in zip(views, coordinator, admin, strict=True)
    }
    # admin/<app>/<model>/<id>/ redirects to the change page (for staff; others to the login).
    routes[f"admin/{app}/{model}/<path:object_id>/"] = STAFF(302, 302)
    return routes


VIEW_ONLY = (200, 403, 200, 403, 200)  # may look, may not add or delete
NO_ACCESS = (403, 403, 403, 403, 403)

EXPECTED: dict[str, tuple[int, ...]] = {
    "home": LOGIN_FIRST(200),
    "healthz": ALL(200),
    "login": ALL(200),
    "logout": ALL(405),  # POST only
    "cohorts:list": (302, 403, 403, 200, 200, 200),
    "cohorts:upload": (302, 403, 403, 200, 403, 200),
    "cohorts:job": (302, 404, 404, 200, 404, 200),
    "cohorts:api-job": (403, 404, 404, 200, 404, 200),
    "studies:list": LOGIN_FIRST(200),
    "studies:detail": (302, 200, 404, 200, 200, 200),
    "password-setup": ALL(200),  # an invalid link says so
    "password-setup-done": ALL(200),
    "console:home": (302, 403, 403, 200, 403, 200),
    "console:study-new": (302, 403, 403, 200, 403, 200),
    "console:study": (302, 403, 403, 200, 403, 200),
    "console:readers": (302, 403, 403, 200, 403, 200),
    # POST only
    "console:study-edit": ALL(405),
    "console:study-assign": ALL(405),
    "console:study-unassign": ALL(405),
    "console:study-open": ALL(405),
    "console:study-close": ALL(405),
    "console:reader-link": ALL(405),
    "workstation": (302, 200, 404, 404, 404, 404),  # assigned readers of an open study only
    "api-schema": (403, 200, 200, 200, 200, 200),  # DRF: 403 without a session
    "api-docs": LOGIN_FIRST(200),
    "api-token": LOGIN_FIRST(200),
    # Reading: a reader's own items in their assigned, open studies; everyone else 404 (staff
    # included: they are nobody's reader). GET on a PUT/POST-only route: 405 once logged in.
    "reading-worklist": (403, 200, 200, 200, 200, 200),
    "reading-session": (403, 200, 404, 404, 404, 404),
    "reading-finish": (403, 405, 405, 405, 405, 405),
    "reading-item": (403, 200, 404, 404, 404, 404),
    "reading-item-read": (403, 405, 405, 405, 405, 405),
    "reading:worklist": LOGIN_FIRST(200),
    "reading:instructions": (302, 200, 404, 404, 404, 404),
    # A reader's reading item (their own arm 1, position 1): nobody else has that item.
    **{
        f"imaging:item-{name}": (403, 200, 404, 404, 404, 404)
        for name in ("images", "slice", "outline", "coronal", "sagittal")
    },
    # DICOMweb: searches answer everyone signed in (a reader's list holds only their own,
    # blinded cases); the walk names stored UIDs, which only whole-cohort roles may use.
    **{
        f"imaging:dicomweb:{name}": (401, 200, 200, 200, 200, 200)
        for name in ("search-studies", "search-all-series", "search-all-instances")
    },
    **{
        f"imaging:dicomweb:{name}": (401, 404, 404, 200, 200, 200)
        for name in (
            "search-series",
            "search-study-instances",
            "search-instances",
            "study",
            "study-metadata",
            "series",
            "series-metadata",
            "instance",
            "instance-metadata",
            "frames",
        )
    },
    # Models (readerstudy.aimodels): coordinators and statisticians; readers never.
    "aimodels:list": (302, 403, 403, 200, 200, 200),
    "aimodels:card": (302, 403, 403, 200, 200, 200),
    "aimodels:predictions-csv": (302, 403, 403, 200, 200, 200),
    "aimodels:attribution": (302, 403, 403, 200, 200, 200),
    "aimodels:attribution-png": (302, 403, 403, 404, 404, 404),  # none computed in the walk
    "aimodels:runs": (302, 403, 403, 200, 200, 200),
    "aimodels:runs-status": (302, 403, 403, 200, 200, 200),
    "aimodels:train": (302, 403, 403, 200, 403, 200),
    "aimodels:predict": (302, 403, 403, 200, 403, 200),
    "aimodels:training-cancel": (302, 403, 403, 405, 403, 405),  # POST only
    "aimodels:prediction-cancel": (302, 403, 403, 405, 403, 405),  # POST only
    "api-models:list": (403, 403, 403, 200, 200, 200),
    "api-models:detail": (403, 403, 403, 200, 200, 200),
    "api-models:predictions": (403, 403, 403, 200, 200, 200),
    "admin:app_list[aimodels]": STAFF(200, 200),
    **_model_routes("aimodels_modelversion", VIEW_ONLY, VIEW_ONLY),
    **_model_routes("aimodels_trainingrun", VIEW_ONLY, VIEW_ONLY),
    **_model_routes("aimodels_predictionrun", VIEW_ONLY, VIEW_ONLY),
    # Results hold the reference, every read and pseudonyms: full-view roles only, readers 403.
    "results:dashboard": (302, 403, 403, 200, 200, 200),
    "results:reads-csv": (302, 403, 403, 200, 200, 200),
    "results:data-dictionary": (302, 403, 403, 200, 200, 200),
    "results:analysis-json": (302, 403, 403, 200, 200, 200),
    "results:report-pdf": (302, 403, 403, 404, 404, 404),  # the walk's study has too few reads
    "results:imrmc": (302, 403, 403, 200, 200, 200),
    "results:mrmcaov": (302, 403, 403, 200, 200, 200),
    "results-api:study-results": (403, 403, 403, 200, 200, 200),
    "admin:index": STAFF(200, 200),
    "admin:login": (200, 200, 200, 302, 200, 302),
    "admin:logout": STAFF(405, 405),
    "admin:password_change": STAFF(200, 200),
    "admin:password_change_done": STAFF(200, 200),
    "admin:autocomplete": STAFF(403, 403),  # no field named
    "admin:jsi18n": STAFF(200, 200),
    "admin:view_on_site": STAFF(404, 404),  # reads have no public page
    "admin:auth_user_password_change": STAFF(403, 200),
    "admin:app_list[accounts]": STAFF(200, 200),
    "admin:app_list[auth]": STAFF(404, 200),
    "admin:app_list[cohorts]": STAFF(200, 200),
    "admin:app_list[studies]": STAFF(200, 200),
    "admin:app_list[authtoken]": STAFF(404, 200),
    "admin/(?P<url>.*)$": STAFF(404, 404),
    **_model_routes("accounts_user", VIEW_ONLY, (200, 200, 200, 200, 200)),
    **_model_routes("auth_group", NO_ACCESS, VIEW_ONLY),
    **_model_routes("cohorts_cohort", VIEW_ONLY, (200, 403, 200, 200, 200)),
    **_model_routes("cohorts_patient", VIEW_ONLY, (200, 403, 200, 200, 200)),
    **_model_routes("cohorts_patientidentity", VIEW_ONLY, (200, 403, 200, 200, 200)),
    **_model_routes("cohorts_ctseries", VIEW_ONLY, (200, 403, 200, 200, 200)),
    **_model_routes("cohorts_node", VIEW_ONLY, (200, 403, 200, 200, 200)),
    **_model_routes("cohorts_importjob", VIEW_ONLY, (200, 403, 200, 200, 200)),
    **_model_routes("studies_readerstudy", (200, 200, 200, 403, 200), (200, 200, 200, 200, 200)),
    **_model_routes("studies_read", VIEW_ONLY, VIEW_ONLY),
    # API tokens: administrators only. No token exists in the walk, so pages of one redirect.
    **_model_routes("authtoken_tokenproxy", (403, 403, 403, 403, 302), (200, 200, 302, 302, 302)),
}


def _walk(patterns, prefix: str = "", namespace: str | None = None) -> Iterator[tuple]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            assert isinstance(entry, URLPattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name, prefix + str(entry.pattern)


@pytest.fixture
def world(tmp_path: Path, make_user) -> dict:
    """One of everything a path parameter can name, and a user per role."""
    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort
    users = {
        "reader_assigned": make_user(Role.READER, "walk-reader-in"),
        "reader_unassigned": make_user(Role.READER, "walk-reader-out"),
        "coordinator": make_user(Role.COORDINATOR, "walk-coordinator"),
        "statistician": make_user(Role.STATISTICIAN, "walk-statistician"),
        "admin": make_user(Role.ADMIN, "walk-admin"),
    }
    study = services.study_create(name="Walk study", cohorts=[cohort], order_seed=987654321)
    services.study_assign_readers(study=study, readers=[users["reader_assigned"]])
    services.study_open(study=study)
    services.read_submit(
        reader=users["reader_assigned"],
        arm=study.arms.get(),
        node=study.cases.first().node,
        call="benign",
        idempotency_key=uuid.uuid4(),
    )
    job = ImportJob.objects.create(created_by=users["coordinator"], archive_name="x.zip")
    assert Group.objects.exists()
    # A registered model version (its bundle is not needed by any page) and its runs.
    version = ModelVersion.objects.create(
        label="walk-model",
        kind="deep",
        bundle_path="walk-model",
        bundle_sha256="0" * 64,
        files={},
        config={},
        training_cohort=cohort,
        seed=1,
        n_folds=5,
        code_sha256="0" * 64,
        intended_use="walk",
    )
    training = TrainingRun.objects.create(cohort=cohort, kind="deep", model_version=version)
    prediction = PredictionRun.objects.create(model_version=version, cohort=cohort)
    return {
        "users": users,
        "study": study,
        "job": job,
        "cohort": cohort,
        "version": version,
        "training_run": training,
        "prediction_run": prediction,
    }


def _concrete_urls(name: str | None, pattern: str, world: dict) -> list[tuple[str, str]]:
    """(table key, URL) pairs for one route, parameters filled with real objects."""
    key = name or pattern
    if "(?P<app_label>" in pattern:
        labels = re.search(r"\(\?P<app_label>([^)]*)\)", pattern).group(1).split("|")
        return [(f"{key}[{label}]", f"/admin/{label}/") for label in labels]
    if "(?P<url>" in pattern:
        return [(key, "/admin/no-such-page/")]
    segments = pattern.split("/")

    def value(match: re.Match) -> str:
        parameter = match.group(2)
        if parameter == "study_id":
            return str(world["study"].pk)
        if parameter == "job_id":
            return str(world["job"].pk)
        if parameter == "user_id":
            return str(world["users"]["reader_assigned"].pk)
        if parameter == "uidb64":
            return "MQ"
        if parameter == "token":
            return "not-a-valid-token"
        if parameter in ("arm", "pos"):  # a reading item: arm 1, position 1 of the reader's order
            return "1"
        if parameter == "index":
            return "0"
        if parameter == "frames":
            return "1"
        if parameter in ("study_uid", "series_uid", "instance_uid"):  # stored identifiers
            stored = CTSlice.objects.select_related("series").order_by("pk").first()
            return {
                "study_uid": stored.series.study_instance_uid,
                "series_uid": stored.series.series_instance_uid,
                "instance_uid": stored.sop_instance_uid,
            }[parameter]
        if parameter == "version_id":
            return str(world["version"].pk)
        if parameter == "cohort_id":
            return str(world["cohort"].pk)
        if parameter == "node_id":
            return str(world["study"].cases.first().node_id)
        if parameter == "training_run_id":
            return str(world["training_run"].pk)
        if parameter == "prediction_run_id":
            return str(world["prediction_run"].pk)
        if parameter == "content_type_id":
            return str(ContentType.objects.get_for_model(Read).pk)
        if pattern.startswith("admin/r/"):
            return str(Read.objects.get().pk)
        # admin/<app>/<model>/<object_id or id>/...: any stored object of that model
        model = apps.get_model(segments[1], segments[2])
        return str(model.objects.order_by("pk").values_list("pk", flat=True).first())

    return [(key, "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, pattern))]


def test_every_url_answers_every_role_as_the_table_says(world) -> None:
    clients = {"anonymous": Client()}
    for role, user in world["users"].items():
        clients[role] = Client()
        clients[role].force_login(user)

    urls = [
        pair
        for name, pattern in _walk(get_resolver().url_patterns)
        for pair in _concrete_urls(name, pattern, world)
    ]
    missing = sorted({key for key, _ in urls} - set(EXPECTED))
    assert not missing, f"routes without an access entry in EXPECTED: {missing}"
    stale = sorted(set(EXPECTED) - {key for key, _ in urls})
    assert not stale, f"EXPECTED names routes that no longer exist: {stale}"

    wrong = []
    for key, url in urls:
        for role, expected in zip(ROLES, EXPECTED[key], strict=True):
            status = clients[role].get(url).status_code
            if status != expected:
                wrong.append(f"{role:18} GET {url} ({key}): {status}, expected {expected}")
    assert not wrong, f"{len(wrong)} answers differ:\n" + "\n".join(wrong)


def test_a_reader_sees_only_their_own_part_of_a_study(client, world) -> None:
    reader = world["users"]["reader_assigned"]
    study = world["study"]
    study.instructions = "Call every outlined node."
    study.save(update_fields=["instructions"])
    other = world["users"]["reader_unassigned"]
    services_study = services.study_create(name="Other study", cohorts=list(study.cohorts.all()))
    services.study_assign_readers(study=services_study, readers=[other])

    client.force_login(reader)
    listing = client.get("/studies/").content.decode()
    assert "Walk study" in listing and "Other study" not in listing
    page = client.get(f"/studies/{study.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Call every outlined node." in html and "R1" in html
    assert "Order seed" not in html and str(study.order_seed) not in html
    assert client.get(f"/studies/{services_study.pk}/").status_code == 404

    # Coordinators see all readers' progress on the same page.
    client.force_login(world["users"]["coordinator"])
    full = client.get(f"/studies/{services_study.pk}/").content.decode()
    assert "Order seed" in full and "R1" in full
