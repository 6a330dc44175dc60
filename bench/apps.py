from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Benchmarks of the product and the raw-driver floors they are measured against."""

    name = "bench"
    verbose_name = "Benchmarks"
