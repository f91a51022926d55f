"""Users. A custom user model from day one, so fields can be added without a painful swap."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    """The four roles; each is a Django group of the same name with its permissions."""

    READER = "reader", "Reader"
    COORDINATOR = "coordinator", "Study coordinator"
    STATISTICIAN = "statistician", "Statistician"
    ADMIN = "admin", "Administrator"


class User(AbstractUser):
    """A person using the platform. Readers may carry a profession and experience for reports."""

    profession = models.CharField(
        max_length=100, blank=True, help_text="e.g. radiologist, radiation oncologist"
    )
    years_of_experience = models.PositiveSmallIntegerField(null=True, blank=True)
    is_simulated = models.BooleanField(
        default=False,
        help_text="a simulated reader (manage.py simulate_reads): its reads are generated, not a "
        "person's; labelled as such wherever readers are listed",
    )

    def has_role(self, role: Role | str) -> bool:
        return self.groups.filter(name=str(role)).exists()
