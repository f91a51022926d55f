"""The model version a study's AI-aided arm shows; PostgreSQL refuses changing it once the study
has left the draft status (the service refuses first: aimodels.services.study_model_version_set)."""

import django.db.models.deletion
from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION studies_model_version_fixed() RETURNS trigger AS $$
BEGIN
    IF OLD.status <> 'draft' AND NEW.model_version_id IS DISTINCT FROM OLD.model_version_id THEN
        RAISE EXCEPTION 'study % is %: its model version cannot be changed', OLD.name, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER studies_model_version_fixed BEFORE UPDATE ON studies_readerstudy
    FOR EACH ROW EXECUTE FUNCTION studies_model_version_fixed();
"""
DROP = """
DROP TRIGGER IF EXISTS studies_model_version_fixed ON studies_readerstudy;
DROP FUNCTION IF EXISTS studies_model_version_fixed();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("aimodels", "0001_initial"),
        ("studies", "0003_reading_workstation"),
    ]

    operations = [
        migrations.AddField(
            model_name="readerstudy",
            name="model_version",
            field=models.ForeignKey(
                blank=True,
                help_text="the model whose output the AI-aided arm shows; fixed once the study opens",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="studies",
                to="aimodels.modelversion",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
