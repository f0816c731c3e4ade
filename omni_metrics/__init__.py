"""Omni Metrics: omnichannel customer-journey KPIs from marketing exports."""

__version__ = "0.1.0"
