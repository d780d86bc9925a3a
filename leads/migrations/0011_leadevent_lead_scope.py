"""A copy of each lead event's lead scope (the lead's workspace and destination) on the row,
kept by database triggers, so a manager's deep pages of the events list read an index of
their own workspaces instead of walking the table's time index and probing the lead of each
row (page 201 of a workspace with a twentieth of the leads walked ~200,000 rows: 1.8-2.4 s
at 15,000,000 events; bench/README.md).

As for call logs (``calllogs 0007``) and messages (``broadcast 0007``/``0009``): an insert
with no scope given is stamped from the lead (intake gives a new lead's own: its
workspace, no destination yet, sparing a lookup per row), an update of ``lead_id`` or of
the stamps reads the lead again, and a change of the lead's workspace or destination
(routing, a reroute) rewrites its events' copy in the same transaction. The existing rows
are stamped here, in the same transaction as the triggers' creation.
"""

from django.db import migrations, models

ARCHIVED = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'archive' AND tablename LIKE 'leads\\_leadevent\\_%%'
    LOOP
        EXECUTE format('ALTER TABLE archive.%I {action}', t.tablename);
    END LOOP;
END $$;
"""

TRIGGERS = """
CREATE FUNCTION leadevent_lead_scope_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER leadevent_lead_scope_stamp
    BEFORE UPDATE OF lead_id, lead_workspace_id, lead_destination_id ON leads_leadevent
    FOR EACH ROW EXECUTE FUNCTION leadevent_lead_scope_stamp();
CREATE TRIGGER leadevent_lead_scope_stamp_insert
    BEFORE INSERT ON leads_leadevent
    FOR EACH ROW WHEN (NEW.lead_workspace_id IS NULL)
    EXECUTE FUNCTION leadevent_lead_scope_stamp();
CREATE FUNCTION leadevent_lead_scope_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE leads_leadevent
       SET lead_workspace_id = NEW.workspace_id,
           lead_destination_id = NEW.destination_workspace_id
     WHERE lead_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER leadevent_lead_scope_follow
    AFTER UPDATE OF workspace_id, destination_workspace_id ON leads_lead
    FOR EACH ROW
    WHEN (OLD.workspace_id IS DISTINCT FROM NEW.workspace_id
          OR OLD.destination_workspace_id IS DISTINCT FROM NEW.destination_workspace_id)
    EXECUTE FUNCTION leadevent_lead_scope_follow();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS leadevent_lead_scope_follow ON leads_lead;
DROP TRIGGER IF EXISTS leadevent_lead_scope_stamp_insert ON leads_leadevent;
DROP TRIGGER IF EXISTS leadevent_lead_scope_stamp ON leads_leadevent;
DROP FUNCTION IF EXISTS leadevent_lead_scope_follow();
DROP FUNCTION IF EXISTS leadevent_lead_scope_stamp();
"""

BACKFILL = """
UPDATE leads_leadevent t
   SET lead_workspace_id = l.workspace_id, lead_destination_id = l.destination_workspace_id
  FROM leads_lead l
 WHERE l.id = t.lead_id;
"""


class Migration(migrations.Migration):
    dependencies = [("leads", "0010_admin_scale_indexes_and_intake_counts")]

    operations = [
        migrations.AddField(
            model_name="leadevent",
            name="lead_destination_id",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="leadevent",
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
            model_name="leadevent",
            index=models.Index(
                fields=["lead_workspace_id", "created_at", "id"], name="leadevent_lead_ws_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="leadevent",
            index=models.Index(
                condition=models.Q(("lead_destination_id__isnull", False)),
                fields=["lead_destination_id", "created_at", "id"],
                name="leadevent_lead_dest_idx",
            ),
        ),
        migrations.RunSQL("ANALYZE leads_leadevent", migrations.RunSQL.noop),
    ]
