"""The dedupe lookup's index gets the window's column: lead_hash_time_idx (dedupe_hash,
created_at) in place of lead_hash_idx (dedupe_hash).

With the hash alone, a partition analyzed while it was small (a new month's partition in
its first minute, before autovacuum's ANALYZE) has no statistics of the hash, and the
lookup of a batch's hashes over the window read the time index instead: every lead of the
window, 10 ms a lookup at 30,000 leads (bench/README.md). With both columns the one index
answers the hash and the window, whatever the statistics say.

The new index is built before the old one goes, so the lookup is never without one. On a
partitioned table PostgreSQL cannot build an index CONCURRENTLY: the build holds a SHARE
lock on each partition (intake waits) for as long as that partition takes to index; run it
in a quiet hour on a large database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0013_lead_drop_unread_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(fields=["dedupe_hash", "created_at"], name="lead_hash_time_idx"),
        ),
        migrations.RemoveIndex(
            model_name="lead",
            name="lead_hash_idx",
        ),
    ]
