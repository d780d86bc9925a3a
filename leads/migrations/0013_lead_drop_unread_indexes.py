"""Two indexes of leads that nothing reads, each written by every intake and planned over
by every dedupe lookup: lead_dedupe_idx (the lookup reads lead_hash_idx; the composite
showed no scan in the sustained bench) and the destination workspace's own FK index
(lead_dest_status_idx leads with the same column).

The FK index goes by its name alone: Django's AlterField would drop the foreign key and
add it again, validating every lead under lock."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0012_leadevent_lead_scope_follow_per_statement"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="lead",
            name="lead_dedupe_idx",
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="lead",
                    name="destination_workspace",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="routed_leads",
                        to="leads.workspace",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "leads_lead_destination_workspace_id_16fcfe3c"',
                    reverse_sql='CREATE INDEX "leads_lead_destination_workspace_id_16fcfe3c" '
                    'ON "leads_lead" ("destination_workspace_id")',
                ),
            ],
        ),
    ]
