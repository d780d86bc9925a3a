"""A copy of each calllog's lead scope (the lead's workspace and destination) on the row,
kept by database triggers, so a manager's changelist reads an index of its own workspaces
instead of probing the lead of every row, newest first, until it finds a page (a workspace
with no or few of these rows walked the whole table: seconds, or the bench's 20 s timeout).

Triggers rather than code: the rows are written by several services, and the lead's
destination changes on a reroute (``leads_routing_apply``, in a lower layer that may not
write this table); the triggers stamp every insert and every change of ``lead_id`` from
the lead, and follow every change of the lead's workspace or destination, in the writer's
transaction. The existing rows are stamped here, in the same transaction as the triggers'
creation (the new column's lock keeps writers out meanwhile, so no row is missed).
"""

from django.db import migrations, models

# Archived partitions (detached into the ``archive`` schema) are plain tables: they get the
# columns too, so a reader that selects every column by name still reads them (their leads
# are archived as well: the stamps stay empty there).
ARCHIVED = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'archive' AND tablename LIKE 'calllogs\\_calllog\\_%%'
    LOOP
        EXECUTE format('ALTER TABLE archive.%I {action}', t.tablename);
    END LOOP;
END $$;
"""

TRIGGERS = """
CREATE FUNCTION calllog_lead_scope_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT l.workspace_id, l.destination_workspace_id
      INTO NEW.lead_workspace_id, NEW.lead_destination_id
      FROM leads_lead l WHERE l.id = NEW.lead_id;
    IF NOT FOUND THEN
        NEW.lead_workspace_id := NULL;
        NEW.lead_destination_id := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER calllog_lead_scope_stamp
    BEFORE INSERT OR UPDATE OF lead_id, lead_workspace_id, lead_destination_id ON calllogs_calllog
    FOR EACH ROW EXECUTE FUNCTION calllog_lead_scope_stamp();
CREATE FUNCTION calllog_lead_scope_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE calllogs_calllog
       SET lead_workspace_id = NEW.workspace_id,
           lead_destination_id = NEW.destination_workspace_id
     WHERE lead_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER calllog_lead_scope_follow
    AFTER UPDATE OF workspace_id, destination_workspace_id ON leads_lead
    FOR EACH ROW
    WHEN (OLD.workspace_id IS DISTINCT FROM NEW.workspace_id
          OR OLD.destination_workspace_id IS DISTINCT FROM NEW.destination_workspace_id)
    EXECUTE FUNCTION calllog_lead_scope_follow();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS calllog_lead_scope_follow ON leads_lead;
DROP TRIGGER IF EXISTS calllog_lead_scope_stamp ON calllogs_calllog;
DROP FUNCTION IF EXISTS calllog_lead_scope_follow();
DROP FUNCTION IF EXISTS calllog_lead_scope_stamp();
"""

BACKFILL = """
UPDATE calllogs_calllog t
   SET lead_workspace_id = l.workspace_id, lead_destination_id = l.destination_workspace_id
  FROM leads_lead l
 WHERE l.id = t.lead_id;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("calllogs", "0006_admin_scale_indexes"),
        ("leads", "0010_admin_scale_indexes_and_intake_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="calllog",
            name="lead_destination_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="calllog",
            name="lead_workspace_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunSQL(
            ARCHIVED.format(
                action="ADD COLUMN IF NOT EXISTS lead_workspace_id bigint NULL, "
                "ADD COLUMN IF NOT EXISTS lead_destination_id bigint NULL"
            ),
            ARCHIVED.format(
                action="DROP COLUMN IF EXISTS lead_workspace_id, "
                "DROP COLUMN IF EXISTS lead_destination_id"
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        migrations.AddIndex(
            model_name="calllog",
            index=models.Index(
                fields=["lead_workspace_id", "call_time", "id"], name="calllog_lead_ws_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="calllog",
            index=models.Index(
                fields=["lead_destination_id", "call_time", "id"], name="calllog_lead_dest_idx"
            ),
        ),
        migrations.RunSQL("ANALYZE calllogs_calllog", migrations.RunSQL.noop),
    ]
