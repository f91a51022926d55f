from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from readerstudy.accounts.models import User


@admin.register(User)
class ReaderStudyUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (
        ("Reader profile", {"fields": ("profession", "years_of_experience")}),
    )
    list_display = ("username", "first_name", "last_name", "profession", "is_staff")
    list_filter = ("groups", "is_staff", "is_active")
