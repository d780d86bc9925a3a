"""A message inserted with its lead's scope already given keeps it: the stamp trigger runs
on insert only when ``lead_workspace_id`` is empty (enrollment writes the scope it read
with the lead, sparing a lead lookup per first message: a quarter of enrolling's time).
Updates still stamp from the lead, and the minute's re-check
(``broadcast.services.message_lead_scope_recheck``) mends a given stamp a reroute made
stale; the admin lists still probe the lead of every row they show."""

from django.db import migrations

SPLIT = """
DROP TRIGGER message_lead_scope_stamp ON broadcast_message;
CREATE TRIGGER message_lead_scope_stamp
    BEFORE UPDATE OF lead_id, lead_workspace_id, lead_destination_id ON broadcast_message
    FOR EACH ROW EXECUTE FUNCTION message_lead_scope_stamp();
CREATE TRIGGER message_lead_scope_stamp_insert
    BEFORE INSERT ON broadcast_message
    FOR EACH ROW WHEN (NEW.lead_workspace_id IS NULL)
    EXECUTE FUNCTION message_lead_scope_stamp();
"""

JOIN = """
DROP TRIGGER message_lead_scope_stamp_insert ON broadcast_message;
DROP TRIGGER message_lead_scope_stamp ON broadcast_message;
CREATE TRIGGER message_lead_scope_stamp
    BEFORE INSERT OR UPDATE OF lead_id, lead_workspace_id, lead_destination_id ON broadcast_message
    FOR EACH ROW EXECUTE FUNCTION message_lead_scope_stamp();
"""


class Migration(migrations.Migration):
    dependencies = [("broadcast", "0008_enrollment_sequence_index")]

    operations = [migrations.RunSQL(SPLIT, JOIN)]
