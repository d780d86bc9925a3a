from bareapp.models import BareLead
from rest_framework import routers, serializers, viewsets


class BareLeadSerializer(serializers.ModelSerializer):
    class Meta:
        model = BareLead
        fields = ["id", "first_name", "last_name", "phone", "email", "source", "custom"]


class BareLeadViewSet(viewsets.ModelViewSet):
    queryset = BareLead.objects.all()
    serializer_class = BareLeadSerializer


router = routers.SimpleRouter()
router.register("leads", BareLeadViewSet)
urlpatterns = router.urls
