"""Autovacuum's part for the benches, on a server that runs without it, and beat's part
that keeps a young partition's statistics (the benches run no beat)."""

import threading


class Vacuum:
    """Autovacuum's part where the server runs without it (this machine's PostgreSQL has
    ``autovacuum = off`` in its CI configuration; production keeps the default, on).

    As autovacuum does, every ``autovacuum_naptime`` (60 s by default) it looks at each
    table (each partition) of the flow and vacuums the ones whose dead rows, or rows
    inserted since their last vacuum, passed the server's threshold (base plus scale factor
    times the table's rows: 50 + 20% and 1,000 + 20% by default) and analyzes those whose
    rows changed since their last analysis passed theirs (50 + 10%), on a connection opened
    before the runs (so its CPU counts as PostgreSQL's). Without it the leads' partition
    keeps the statistics of the emptied table and the dedupe lookup's plan degrades with
    every lead (PostgreSQL CPU per lead 1.2 -> 8.7 ms over ten minutes); vacuuming every
    table every 20 s instead (this bench until 2026-12-05) walks every index of a growing
    table three times a minute, far more than autovacuum would. It runs with autovacuum's
    cost-based delay (``autovacuum_vacuum_cost_delay``, 2 ms by default, and its cost
    limit): autovacuum pauses as it goes, where a manual VACUUM reads and dirties pages as
    fast as it can."""

    TABLES = ["leads_lead", "leads_leadevent", "routing_routinglog", "leads_intakecount"]
    SETTINGS = [
        "naptime",
        "vacuum_threshold",
        "vacuum_scale_factor",
        "vacuum_insert_threshold",
        "vacuum_insert_scale_factor",
        "analyze_threshold",
        "analyze_scale_factor",
    ]

    def __init__(self, url: str, db) -> None:
        import psycopg

        self.active = db.execute("SHOW autovacuum").fetchone()[0] == "off"
        self.stopped = threading.Event()
        self.done = {"vacuum": 0, "analyze": 0}
        if self.active:
            self.conn = psycopg.connect(url, autocommit=True)
            names = [f"autovacuum_{name}" for name in self.SETTINGS]
            values = self.conn.execute(
                "SELECT name, setting::float FROM pg_settings WHERE name = ANY(%s)", [names]
            ).fetchall()
            self.setting = {name.removeprefix("autovacuum_"): value for name, value in values}
            delay, limit = self.conn.execute(
                "SELECT current_setting('autovacuum_vacuum_cost_delay'), "
                "current_setting('autovacuum_vacuum_cost_limit')::int"
            ).fetchone()
            self.conn.execute("SELECT set_config('vacuum_cost_delay', %s, false)", [delay])
            if limit > 0:  # -1: autovacuum uses vacuum_cost_limit, as set
                self.conn.execute("SELECT set_config('vacuum_cost_limit', %s, false)", [str(limit)])
            every = self.setting["naptime"]
            print(f"autovacuum is off on this server: the bench plays its part every {every:g} s")
            self.thread = threading.Thread(target=self.loop, args=(every,), daemon=True)
            self.thread.start()

    def loop(self, every: float) -> None:
        while not self.stopped.wait(every):
            for table, vacuum, analyze in self.due():
                if self.stopped.is_set():
                    return
                options = "(ANALYZE) " if vacuum and analyze else ""
                self.conn.execute(f"{'VACUUM ' + options if vacuum else 'ANALYZE '}{table}")
                self.done["vacuum"] += vacuum
                self.done["analyze"] += analyze

    def due(self) -> list[tuple[str, bool, bool]]:
        """(table, vacuum?, analyze?) for each partition that autovacuum would process now
        (PostgreSQL's ``relation_needs_vacanalyze``, without per-table settings)."""
        rows = self.conn.execute(
            "SELECT c.oid::regclass::text, greatest(c.reltuples, 0), s.n_dead_tup, "
            "s.n_ins_since_vacuum, s.n_mod_since_analyze "
            "FROM unnest(%s::regclass[]) AS parent(oid), pg_partition_tree(parent.oid) tree "
            "JOIN pg_class c ON c.oid = tree.relid "
            "JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE tree.isleaf",
            [self.TABLES],
        ).fetchall()
        due = []
        for table, tuples, dead, inserted, modified in rows:
            vacuum = dead > self.setting["vacuum_threshold"] + (
                self.setting["vacuum_scale_factor"] * tuples
            ) or inserted > self.setting["vacuum_insert_threshold"] + (
                self.setting["vacuum_insert_scale_factor"] * tuples
            )
            analyze = modified > self.setting["analyze_threshold"] + (
                self.setting["analyze_scale_factor"] * tuples
            )
            if vacuum or analyze:
                due.append((table, vacuum, analyze))
        return due

    def stop(self) -> None:
        self.stopped.set()
        if self.active:
            self.thread.join(timeout=120)
            self.conn.close()
            print(
                f"the bench's autovacuum: {self.done['vacuum']} vacuums and "
                f"{self.done['analyze']} analyses of a table or partition"
            )


class Beat:
    """Beat's "core: analyze young partitions" (this bench runs no beat): the product's
    ``partitions_analyze_young`` at its schedule's interval, on a connection of its own
    (its backend is PostgreSQL's, so its CPU counts there). Without it the first round's
    partition had no statistics until the bench's autovacuum analyzed it, up to a minute
    in (bench/README.md)."""

    def __init__(self) -> None:
        from core.schedules import SCHEDULES

        [spec] = [s for s in SCHEDULES if s["task"] == "core.tasks.partitions_analyze_task"]
        self.every = spec["interval_seconds"]
        self.stopped = threading.Event()
        self.analyzed: list[str] = []
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        from django.db import connection

        from core.partitions import partitions_analyze_young

        try:
            while not self.stopped.wait(self.every):
                self.analyzed += partitions_analyze_young()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=120)
        print(f"beat's young-partition analyses: {len(self.analyzed)}")
