"""The lead-scope copy of messages follows its leads once per UPDATE statement of leads
instead of once per lead (``core.lead_scope_sql.follow_per_statement``): a routing batch
of 500 leads ran this table's row trigger, and its UPDATE, 500 times."""

from django.db import migrations

from core.lead_scope_sql import follow_per_statement


class Migration(migrations.Migration):
    dependencies = [("broadcast", "0009_message_stamp_given_on_insert")]

    operations = [
        follow_per_statement(table="broadcast_message", name="message_lead_scope", stamp=False)
    ]
