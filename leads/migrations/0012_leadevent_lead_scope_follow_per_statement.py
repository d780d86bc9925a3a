"""The lead-scope copy of lead events (0011) follows its leads once per UPDATE statement of
leads instead of once per lead (``core.lead_scope_sql.follow_per_statement``): with the row
triggers, routing measured 24% slower than before the copy (bench/README.md)."""

from django.db import migrations

from core.lead_scope_sql import follow_per_statement


class Migration(migrations.Migration):
    dependencies = [("leads", "0011_leadevent_lead_scope")]

    operations = [follow_per_statement(table="leads_leadevent", name="leadevent_lead_scope")]
