"""The market for counterfeits: total supply sets a weekly price index (ODD 4.7).

Demand takes ``Q0 P^(-eps)`` a week at price index ``P`` (1 is the 2016 price), ``Q0`` being
``market.reference_sales_per_seller_cny`` times the initial sellers. After each week the
price moves part of the way (``market.price_adjustment``, on the log scale) towards the price
at which demand would have taken that week's supply, and the next week's margins follow it:
when a crackdown removes supply, those who stay and newcomers earn more (the replacement
effect). With infinite elasticity or no adjustment the price stays 1: the fixed-price model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model import rules

if TYPE_CHECKING:
    from sim.scenario import Scenario


class Market:
    """The price index of counterfeits.

    Args:
        scenario: The scenario (its initial sellers set the size of demand).

    Attributes:
        price: The price index in force this week.
        reference_supply: What demand takes at price 1 (CNY per week at 2016 prices).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.price = 1.0
        self.reference_supply = (
            scenario.market.reference_sales_per_seller_cny * scenario.population.sellers
        )

    def clear(self, supply: float, params: Scenario) -> None:
        """Move the price after a week in which ``supply`` was sold (CNY at 2016 prices)."""
        market = params.market
        target = rules.clearing_price(
            supply, self.reference_supply, market.demand_elasticity, market.max_price_index
        )
        self.price = rules.adjust_price(self.price, target, market.price_adjustment)
