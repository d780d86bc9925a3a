from django.db import migrations, models

# Archived partitions (detached into the ``archive`` schema) are plain tables now, so adding
# the column to the partitioned parent does not reach them: add it there too, so a reader
# that selects every column by name still reads them.
ARCHIVED = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'archive' AND tablename LIKE 'broadcast\\_message\\_%%'
    LOOP
        EXECUTE format('ALTER TABLE archive.%I {action}', t.tablename);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("broadcast", "0004_device_probe_for_auto_resume")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="attempted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(
            ARCHIVED.format(action="ADD COLUMN IF NOT EXISTS attempted_at timestamptz NULL"),
            ARCHIVED.format(action="DROP COLUMN IF EXISTS attempted_at"),
        ),
    ]
