"""The lead-scope triggers of the routing log (0005) made cheaper for routing, which measured
24% slower with them (bench/routing.py, 5,930 -> 4,480 leads/s, bench/README.md):

- the follow trigger (a lead's workspace or destination changed) rewrites only the rows
  whose copy differs, and
- the stamp trigger on an update of the copy reads the lead only for an update made by a
  statement, not for the follow trigger's own (``pg_trigger_depth() = 0``): that one
  writes the lead's new values, so the read found the same and cost a lookup per row.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER routinglog_lead_scope_stamp ON routing_routinglog;
CREATE TRIGGER routinglog_lead_scope_stamp
    BEFORE UPDATE OF lead_id, lead_workspace_id, lead_destination_id ON routing_routinglog
    FOR EACH ROW WHEN (pg_trigger_depth() = 0)
    EXECUTE FUNCTION routinglog_lead_scope_stamp();
CREATE OR REPLACE FUNCTION routinglog_lead_scope_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE routing_routinglog
       SET lead_workspace_id = NEW.workspace_id,
           lead_destination_id = NEW.destination_workspace_id
     WHERE lead_id = NEW.id
       AND (lead_workspace_id IS DISTINCT FROM NEW.workspace_id
            OR lead_destination_id IS DISTINCT FROM NEW.destination_workspace_id);
    RETURN NULL;
END $$;
"""

BACKWARD = """
DROP TRIGGER routinglog_lead_scope_stamp ON routing_routinglog;
CREATE TRIGGER routinglog_lead_scope_stamp
    BEFORE UPDATE OF lead_id, lead_workspace_id, lead_destination_id ON routing_routinglog
    FOR EACH ROW EXECUTE FUNCTION routinglog_lead_scope_stamp();
CREATE OR REPLACE FUNCTION routinglog_lead_scope_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE routing_routinglog
       SET lead_workspace_id = NEW.workspace_id,
           lead_destination_id = NEW.destination_workspace_id
     WHERE lead_id = NEW.id;
    RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("routing", "0005_routinglog_lead_scope")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
