from django.db import migrations, models

# Archived partitions (detached into the ``archive`` schema) are plain tables now, so the
# rename of the partitioned parent does not reach them: rename their column too, so the
# history page, which selects every column by name, still reads them.
RENAME_ARCHIVED = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT table_name FROM information_schema.columns
             WHERE table_schema = 'archive' AND table_name LIKE 'leads\\_lead\\_%%'
               AND column_name = '{old}'
    LOOP
        EXECUTE format('ALTER TABLE archive.%I RENAME COLUMN {old} TO {new}', t.table_name);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("leads", "0004_enrollment_completed_event")]

    operations = [
        migrations.RenameField("lead", "vici_list_id", "vici_list_number"),
        migrations.AlterField(
            model_name="lead",
            name="vici_list_number",
            field=models.BigIntegerField(
                blank=True,
                help_text="The VICIdial list_id the lead is in (Vici's number).",
                null=True,
            ),
        ),
        migrations.RunSQL(
            RENAME_ARCHIVED.format(old="vici_list_id", new="vici_list_number"),
            RENAME_ARCHIVED.format(old="vici_list_number", new="vici_list_id"),
        ),
    ]
