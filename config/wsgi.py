import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from calllogs.fastpath import wrap  # noqa: E402 - needs Django set up

application = wrap(application)
