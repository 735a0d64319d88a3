"""The data market as its users see it: requests, proposals, votes, shares, dividends."""

from databright.market.client import Holding, Market, RequestInfo

__all__ = ["Holding", "Market", "RequestInfo"]
