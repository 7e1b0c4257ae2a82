from rest_framework import serializers

from usage.models import UsageMetric


class UsageMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = UsageMetric
        fields = ["id", "key", "label", "unit", "kind"]


class UsagePointSerializer(serializers.Serializer):
    metric = serializers.CharField(source="metric__key")
    day = serializers.DateField()
    value = serializers.DecimalField(max_digits=18, decimal_places=4)


class UsageSeriesQuerySerializer(serializers.Serializer):
    metric = serializers.CharField(required=False, allow_blank=True)
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
