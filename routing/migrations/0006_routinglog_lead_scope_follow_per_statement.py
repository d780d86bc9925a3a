"""The lead-scope copy of the routing log (0005) follows its leads once per UPDATE statement
of leads instead of once per lead (``core.lead_scope_sql.follow_per_statement``): with the
row triggers, routing measured 24% slower than before the copy (bench/README.md)."""

from django.db import migrations

from core.lead_scope_sql import follow_per_statement


class Migration(migrations.Migration):
    dependencies = [("routing", "0005_routinglog_lead_scope")]

    operations = [follow_per_statement(table="routing_routinglog", name="routinglog_lead_scope")]
