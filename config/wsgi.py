import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from calllogs import fastpath as call_url  # noqa: E402 - needs Django set up
from leads import fastpath as api_refusals  # noqa: E402

application = api_refusals.wrap(call_url.wrap(django_application))
