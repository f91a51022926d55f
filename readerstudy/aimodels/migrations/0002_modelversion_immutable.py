"""A registered model version is never changed: PostgreSQL refuses an UPDATE of its row, from
the ORM, the admin, a shell or raw SQL alike (Django's own save() refuses first)."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION aimodels_modelversion_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'model version % is registered and cannot be changed', OLD.label
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER aimodels_modelversion_no_update BEFORE UPDATE ON aimodels_modelversion
    FOR EACH ROW EXECUTE FUNCTION aimodels_modelversion_immutable();
"""
DROP = """
DROP TRIGGER IF EXISTS aimodels_modelversion_no_update ON aimodels_modelversion;
DROP FUNCTION IF EXISTS aimodels_modelversion_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("aimodels", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
