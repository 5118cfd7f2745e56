"""distillwatch: find distillation campaigns in the logs of a large-model API."""

__version__ = "0.1.0"
