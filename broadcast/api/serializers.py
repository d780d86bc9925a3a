from rest_framework import serializers

from broadcast.models import Enrollment, Message


class EnrollInputSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(min_value=1)
    leads = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=10_000
    )


class EnrollResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    skipped = serializers.DictField(child=serializers.IntegerField())
    queued = serializers.IntegerField(
        help_text="Leads waiting for an active device of the sequence (answer 202)."
    )


class StopInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="stopped by API")


class EnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = [
            "id",
            "sequence",
            "lead",
            "device",
            "current_step",
            "status",
            "reason",
            "timezone",
            "created_at",
            "updated_at",
        ]


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "enrollment",
            "step",
            "device",
            "body",
            "media_url",
            "status",
            "scheduled_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "attempts",
            "error",
        ]
