"""The ensure_roles command (run by the production entry point) creates the role groups."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_ensure_roles_creates_groups_idempotently(capsys) -> None:
    call_command("ensure_roles")
    call_command("ensure_roles")
    assert sorted(Group.objects.values_list("name", flat=True)) == [
        "admin",
        "coordinator",
        "reader",
        "statistician",
    ]
    assert Group.objects.get(name="reader").permissions.count() == 0
    assert (
        Group.objects.get(name="coordinator")
        .permissions.filter(codename="view_patientidentity")
        .exists()
    )
    assert "coordinator:" in capsys.readouterr().out
