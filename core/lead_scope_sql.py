"""SQL of the lead-scope triggers, for the apps' migrations (the copy of a row's lead's
workspace and destination: see calllogs 0007, leads 0011, routing 0005).

``follow_per_statement``: a change of leads' workspace or destination rewrites the copy on
``table`` once per UPDATE statement of leads (a routing batch of 500 leads: one UPDATE of
``table`` joined to the statement's old and new rows), not once per lead from a row
trigger; only the rows whose copy differs are written, and the stamp trigger of ``table``
does not read the lead again for them (``pg_trigger_depth() = 0``: it does for an update
made by a statement, such as the periodic re-check's). PostgreSQL refuses transition
tables on a trigger with a column list, so the trigger runs after every UPDATE of leads;
the join finds nothing where no lead's scope changed.
"""

from django.db import migrations


def follow_per_statement(*, table: str, name: str, stamp: bool = True) -> migrations.RunSQL:
    """The migration operation that replaces ``<name>_follow`` (a row trigger on leads)
    and, with ``stamp``, ``<name>_stamp`` (``table``'s stamp trigger on update alone: the
    tables whose insert stamp is a trigger of its own) as described above; reversible."""
    stamp_columns = "lead_id, lead_workspace_id, lead_destination_id"
    forward_stamp = f"""
DROP TRIGGER {name}_stamp ON {table};
CREATE TRIGGER {name}_stamp
    BEFORE UPDATE OF {stamp_columns} ON {table}
    FOR EACH ROW WHEN (pg_trigger_depth() = 0)
    EXECUTE FUNCTION {name}_stamp();
"""
    backward_stamp = f"""
DROP TRIGGER {name}_stamp ON {table};
CREATE TRIGGER {name}_stamp
    BEFORE UPDATE OF {stamp_columns} ON {table}
    FOR EACH ROW EXECUTE FUNCTION {name}_stamp();
"""
    forward = f"""
DROP TRIGGER {name}_follow ON leads_lead;
DROP FUNCTION {name}_follow();
CREATE FUNCTION {name}_follow() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off AS $$
DECLARE
    moved bigint[];
BEGIN
    SELECT array_agg(n.id) INTO moved
      FROM lead_scope_new n JOIN lead_scope_old o ON o.id = n.id
     WHERE o.workspace_id IS DISTINCT FROM n.workspace_id
        OR o.destination_workspace_id IS DISTINCT FROM n.destination_workspace_id;
    IF moved IS NULL THEN
        RETURN NULL;
    END IF;
    -- Both sides by ``moved``, and no sequential scan (the function's setting): {table}
    -- is read by its lead_id index whatever the planner guesses from its statistics.
    UPDATE {table} t
       SET lead_workspace_id = n.workspace_id,
           lead_destination_id = n.destination_workspace_id
      FROM lead_scope_new n
     WHERE t.lead_id = ANY(moved) AND n.id = ANY(moved) AND t.lead_id = n.id
       AND (t.lead_workspace_id IS DISTINCT FROM n.workspace_id
            OR t.lead_destination_id IS DISTINCT FROM n.destination_workspace_id);
    RETURN NULL;
END $$;
CREATE TRIGGER {name}_follow
    AFTER UPDATE ON leads_lead
    REFERENCING OLD TABLE AS lead_scope_old NEW TABLE AS lead_scope_new
    FOR EACH STATEMENT EXECUTE FUNCTION {name}_follow();
"""
    backward = f"""
DROP TRIGGER {name}_follow ON leads_lead;
DROP FUNCTION {name}_follow();
CREATE FUNCTION {name}_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {table}
       SET lead_workspace_id = NEW.workspace_id,
           lead_destination_id = NEW.destination_workspace_id
     WHERE lead_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER {name}_follow
    AFTER UPDATE OF workspace_id, destination_workspace_id ON leads_lead
    FOR EACH ROW
    WHEN (OLD.workspace_id IS DISTINCT FROM NEW.workspace_id
          OR OLD.destination_workspace_id IS DISTINCT FROM NEW.destination_workspace_id)
    EXECUTE FUNCTION {name}_follow();
"""
    if stamp:
        forward, backward = forward_stamp + forward, backward_stamp + backward
    return migrations.RunSQL(forward, backward)
