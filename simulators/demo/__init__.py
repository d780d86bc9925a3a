"""The living demo of ``make run``: its configuration (``setup``), the link of the running
simulators to it (``connect``) and the leads that keep arriving (``simulators.traffic``).
These use Django and the apps' services; the apps never import them."""
