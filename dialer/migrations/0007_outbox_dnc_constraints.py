"""The outbox's DNC-list constraints, built without blocking writes to a big table: the
partial unique index CONCURRENTLY, the check constraint NOT VALID and then validated."""

from django.db import migrations, models

UNIQUE = "outbox_one_open_dnc_per_lead_server"
CHECK = "outbox_list_unless_dnc"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dialer", "0006_dnc_list_operation_and_campaign_dnc_check"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="outboxitem",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(
                            ("operation", "dnc"), ("state__in", ["pending", "in_flight"])
                        ),
                        fields=("lead_id", "server"),
                        name=UNIQUE,
                    ),
                ),
                migrations.AddConstraint(
                    model_name="outboxitem",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("operation", "dnc"), ("vici_list__isnull", False), _connector="OR"
                        ),
                        name=CHECK,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {UNIQUE} "
                    "ON dialer_outboxitem (lead_id, server_id) "
                    "WHERE operation = 'dnc' AND state IN ('pending', 'in_flight')",
                    f"DROP INDEX CONCURRENTLY IF EXISTS {UNIQUE}",
                ),
                migrations.RunSQL(
                    f"ALTER TABLE dialer_outboxitem ADD CONSTRAINT {CHECK} "
                    "CHECK (operation = 'dnc' OR vici_list_id IS NOT NULL) NOT VALID",
                    f"ALTER TABLE dialer_outboxitem DROP CONSTRAINT IF EXISTS {CHECK}",
                ),
                migrations.RunSQL(
                    f"ALTER TABLE dialer_outboxitem VALIDATE CONSTRAINT {CHECK}",
                    migrations.RunSQL.noop,
                ),
            ],
        ),
    ]
