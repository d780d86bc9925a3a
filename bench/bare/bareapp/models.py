from django.db import models


class BareLead(models.Model):
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20)
    email = models.CharField(max_length=254, blank=True)
    source = models.CharField(max_length=100, blank=True)
    custom = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "bareapp"

    def __str__(self) -> str:
        return self.phone
