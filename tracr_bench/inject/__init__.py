"""The reference injector: tracr-injection and its baseline (``tracr-bench inject``)."""

from tracr_bench.inject.config import METHODS, InjectConfig, InjectError
from tracr_bench.inject.train import inject

__all__ = ["METHODS", "InjectConfig", "InjectError", "inject"]
