"""The living demo of ``make run``: its configuration (``setup``), the link of the running
simulators to it (``connect``) and the leads that keep arriving (``simulators.traffic``).
These use Django and the apps' services; the apps never import them."""

# Shared by the simulators' processes and the Django side (this module imports no Django).
VICI_USER = "leadbrain"
VICI_PASSWORD = "DemoVici2026"  # DEMO_VICI_PASSWORD overrides it (a local simulator's)
GATEWAY_TOKEN = "demo-gateway-token"
