"""Data migration: VICIdial's standard statuses (VICIDIAL.md 3.5)."""

from django.db import migrations

STATUSES = [
    ("NEW", "New lead", "none", False),
    ("QUEUE", "Queued to an agent", "none", False),
    ("INCALL", "In call", "none", False),
    ("PU", "Answered, not yet at agent", "none", False),
    ("NA", "No answer (auto dial)", "attempt", True),
    ("N", "No answer", "attempt", True),
    ("B", "Busy", "attempt", True),
    ("AB", "Busy (carrier)", "attempt", True),
    ("DC", "Disconnected number", "attempt", True),
    ("ADC", "Disconnected (carrier)", "attempt", True),
    ("ADCT", "Congested number", "attempt", True),
    ("A", "Answering machine", "attempt", True),
    ("AA", "Answering machine (AMD)", "attempt", True),
    ("AM", "AMD message sent", "attempt", True),
    ("AL", "AMD message played", "attempt", True),
    ("AFAX", "Fax machine", "attempt", True),
    ("DROP", "Dropped, no agent free", "attempt", True),
    ("XDROP", "Dropped (inbound)", "attempt", True),
    ("PDROP", "Dropped at answer", "attempt", True),
    ("CALLBK", "Call back", "callback", True),
    ("CBHOLD", "Callback on hold", "callback", True),
    ("SALE", "Sale made", "sale", True),
    ("DEC", "Declined sale", "not_interested", True),
    ("NI", "Not interested", "not_interested", True),
    ("NP", "No pitch no price", "contacted", True),
    ("DNC", "Do not call", "dnc", True),
    ("DNCL", "Found in the system DNC list", "dnc", True),
    ("DNCC", "Found in the campaign DNC list", "dnc", True),
    ("XFER", "Transferred", "contacted", True),
    ("ERI", "Agent closed the browser", "none", True),
    ("DISPO", "Closed on the dispo screen", "none", True),
]


def seed(apps, schema_editor):
    DispositionMap = apps.get_model("calllogs", "DispositionMap")
    for status, name, action, final in STATUSES:
        DispositionMap.objects.get_or_create(
            status=status, defaults={"name": name, "action": action, "final": final}
        )


def unseed(apps, schema_editor):
    DispositionMap = apps.get_model("calllogs", "DispositionMap")
    DispositionMap.objects.filter(status__in=[s[0] for s in STATUSES]).delete()


class Migration(migrations.Migration):
    dependencies = [("calllogs", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
