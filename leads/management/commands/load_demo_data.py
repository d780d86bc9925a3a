"""Demo data for `make run`: loaded once (a second run does nothing)."""

import os
import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from core.roles import roles_upsert
from leads.models import Suppression, Workspace
from leads.services import (
    api_key_create,
    lead_ingest_batch,
    member_create,
    suppression_add,
    workspace_create,
)

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Maria",
    "Wei",
    "Aisha",
    "Ivan",
    "Fatima",
    "Kenji",
    "Priya",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Chen",
    "Patel",
    "Nguyen",
    "Kim",
]
INDUSTRIES = [
    "Solar",
    "Insurance",
    "Home improvement",
    "Debt relief",
    "Medicare",
    "Auto warranty",
    "Real estate",
    "Education",
]
# (state, time zone, area codes)
PLACES = [
    ("CA", "America/Los_Angeles", [213, 310, 415, 619]),
    ("NY", "America/New_York", [212, 315, 518, 716]),
    ("TX", "America/Chicago", [214, 512, 713, 817]),
    ("FL", "America/New_York", [305, 407, 813, 904]),
    ("IL", "America/Chicago", [312, 217, 309, 618]),
    ("AZ", "America/Phoenix", [480, 520, 602, 928]),
]
SOURCES = ["facebook", "google", "partner-feed", "webform", "tv"]


def demo_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        state, tz, areas = rng.choice(PLACES)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone = f"+1{rng.choice(areas)}{rng.randint(200, 989)}{rng.randint(0, 9999):04d}"
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "phone": phone,
                "email": f"{first}.{last}{i}@example.com".lower(),
                "company": f"{last} {rng.choice(['LLC', 'Inc', 'Group', 'Co'])}",
                "industry": rng.choice(INDUSTRIES),
                "state": state,
                "postal_code": f"{rng.randint(10000, 99999)}",
                "timezone": tz,
                "source": rng.choice(SOURCES),
                "external_id": f"demo-{seed}-{i}",
                "custom": {"score": rng.randint(1, 100)},
                "consent": {"text": "I agree to be contacted.", "ip": f"203.0.113.{i % 250}"},
            }
        )
    return rows


class Command(BaseCommand):
    help = (
        "Load demo data once: an admin user, two workspaces with API keys, a manager and an "
        "agent of the internal one, demo leads."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=3000)

    def handle(self, *args, **options):
        if Workspace.objects.filter(slug__in=["acme-sales", "partner-leads"]).exists():
            self.stdout.write("demo data already loaded")
            return
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", password)
            self.stdout.write(f"admin login: admin / {password}")
        internal = workspace_create(name="Acme Sales")
        partner = workspace_create(name="Partner Leads", kind=Workspace.Kind.PARTNER)
        roles_upsert()
        for username, role in (("manager", "manager"), ("agent", "agent")):
            member_create(username=username, workspace=internal, role=role, password=password)
            where = "/admin/" if role == "manager" else "/login/"
            self.stdout.write(
                f"{role} login ({internal.slug}, at {where}): {username} / {password}"
            )
        for workspace, share in ((internal, 2), (partner, 1)):
            # Staff keys (every workspace's routing) belong to internal teams only.
            staff = workspace.kind == Workspace.Kind.INTERNAL
            _, raw = api_key_create(workspace=workspace, name="demo", is_staff=staff)
            self.stdout.write(f"API key for {workspace.slug}: {raw}")
            rows = demo_rows(options["leads"] * share // 3, seed=workspace.pk)
            for start in range(0, len(rows), 1000):
                lead_ingest_batch(
                    workspace=workspace, rows=rows[start : start + 1000], actor="demo"
                )
        suppression_add(kind=Suppression.Kind.PHONE, value="+12135550100", reason="demo DNC")
        suppression_add(
            kind=Suppression.Kind.EMAIL,
            value="donotcall@example.com",
            reason="demo opt-out",
            source="demo",
        )
        self.stdout.write(self.style.SUCCESS("demo data loaded"))
