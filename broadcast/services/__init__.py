"""Broadcast write paths: enrollment, stopping, the paced dispatcher, gateway events.

Scale rules (see the broadcast issue and DESIGN.md):

* Lazy: an active enrollment has at most one unsent message. Enrolling N leads writes N
  enrollments and N first messages (COPY into a staging table, one INSERT ... SELECT per
  batch); a message's successor is written when it is sent.
* Pacing is a property of the device row: the dispatcher claims devices whose
  ``next_send_at`` has come, with ``FOR UPDATE SKIP LOCKED``, puts a lease on them, and
  writes ``next_send_at = the gateway's answer + random(min, max)`` when the send is done.
  A device has at most one send in flight and the next request leaves after the previous
  one was answered plus the pause, so no two of its sends are closer than its minimum
  interval, at our end or at the gateway's, whatever the number of dispatchers.
* Consent at send time: suppression (phone or email, the lead's workspace or global), the
  enrollment's state and the sequence's stop statuses are checked for every claimed message.

One module per flow; this package re-exports the public names, so callers keep writing
``from broadcast import services; services.enrollment_create_many(...)``:

* ``enrollment``: enrolling (staging, first messages and their history)
* ``stopping``: stopping enrollments (the pending message cancelled, the history written)
* ``dispatch``: claim (consent, caps, windows), consent re-check, send
* ``record``: a batch of send outcomes written set-wise, and each sent message's successor
* ``dispatcher``: the loop (``dispatch_run``) and lease recovery (``dispatch_recover``)
* ``events``: gateway events (acks, inbound replies and opt-outs, session status)
* ``devices``: device status changes (pause, resume) and their alerts
* ``config``: saving and deleting devices and sequences (the admin and the configuration API)
* ``probe``: auto-resume of devices paused for transient gateway failures
* ``consent``: the do-not-contact rule that enrollment and dispatch both apply
* ``requests`` and ``requests_run``: pending enrollment requests (work that waits for an
  active device, or for a worker) kept in a table, and carrying them out
"""

from broadcast.services.config import device_delete, device_save, sequence_delete, sequence_save
from broadcast.services.devices import device_set_status, devices_set_status
from broadcast.services.dispatch import (
    DUE_SQL,
    Claim,
    DispatchStats,
    Outcome,
    dispatch_claim,
    dispatch_recheck,
)
from broadcast.services.dispatcher import dispatch_recover, dispatch_run
from broadcast.services.enrollment import EnrollResult, enrollment_create_many
from broadcast.services.events import gateway_event_apply, is_opt_out, lead_opt_out
from broadcast.services.lead_scope import message_lead_scope_recheck
from broadcast.services.probe import ProbeRun, devices_probe
from broadcast.services.record import dispatch_record
from broadcast.services.requests import (
    enrollment_requests_queue,
    enrollment_requests_retry,
    enrollment_requests_wake_for,
)
from broadcast.services.requests_run import RequestsRun, enrollment_requests_process
from broadcast.services.stopping import (
    enrollment_stop,
    enrollment_stop_for_leads,
    enrollment_stop_many,
)

__all__ = [
    "message_lead_scope_recheck",
    "DUE_SQL",
    "Claim",
    "DispatchStats",
    "EnrollResult",
    "Outcome",
    "ProbeRun",
    "RequestsRun",
    "device_delete",
    "device_save",
    "device_set_status",
    "devices_probe",
    "devices_set_status",
    "dispatch_claim",
    "dispatch_recheck",
    "dispatch_record",
    "dispatch_recover",
    "dispatch_run",
    "enrollment_create_many",
    "enrollment_requests_process",
    "enrollment_requests_queue",
    "enrollment_requests_retry",
    "enrollment_requests_wake_for",
    "enrollment_stop",
    "enrollment_stop_for_leads",
    "enrollment_stop_many",
    "gateway_event_apply",
    "is_opt_out",
    "lead_opt_out",
    "sequence_delete",
    "sequence_save",
]
