"""The reference of bench/ingest_sustained.py: a bare Django + DRF ModelViewSet create,
with persistent connections, on the same PostgreSQL and under the same gunicorn config."""

import os

import environ

SECRET_KEY = "bench-only-bare-reference"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "bareapp",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bare_urls"
DATABASES = {"default": environ.Env.db_url_config(os.environ["DATABASE_URL"])}
DATABASES["default"]["CONN_MAX_AGE"] = 60
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
