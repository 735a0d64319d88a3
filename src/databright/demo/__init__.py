"""`databright demo`: the whole market, end to end, on embedded defaults."""

from databright.demo.data_market import DataMarketDemo, run_demo

__all__ = ["DataMarketDemo", "run_demo"]
