"""`tracker.text`, the one formatter: how every figure is written, by example."""

from __future__ import annotations

import doctest

import pytest

from tracker import text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1308.0, "1,308"), (121.8, "121.8"), (193.5527, "193.6"), (0.95, "0.95"), (22.0, "22"),
     (19000.0, "19,000"), (-3.25, "-3.25"), (None, "")],
)  # fmt: skip
def test_number_separates_thousands_and_drops_a_trailing_zero(
    value: float | None, expected: str
) -> None:
    assert text.number(value) == expected


@pytest.mark.parametrize(
    ("value", "unit", "currency", "noun", "expected"),
    [
        (121.8, "USD bn", None, None, "USD 121.8 bn"),
        (306.0, "USD bn", "EUR", None, "EUR 306 bn"),
        (1308.0, "count", None, "deals", "1,308 deals"),
        (1308.0, "count", None, None, "1,308"),
        (156.0, "GW", None, None, "156 GW"),
        (500.0, "MW", None, "projects", "500 MW"),
        (None, "USD bn", "EUR", None, "no data yet"),
    ],
)
def test_amount_puts_the_currency_first_and_a_count_before_its_noun(
    value: float | None, unit: str, currency: str | None, noun: str | None, expected: str
) -> None:
    assert text.amount(value, unit, currency, noun) == expected


def test_percent_signed_and_change() -> None:
    assert text.percent(0.948) == "94.8 %"
    assert text.percent(None) == "no data yet"
    assert (text.signed(29.4), text.signed(-3.0)) == ("+29.4", "-3")
    assert text.change(29.4, 0.318, "2023") == "+29.4 (+31.8\u00a0%) vs 2023"
    assert text.change(-3.0, None, "2024-H1") == "-3 vs 2024-H1"


def test_did_you_mean_names_the_closest_known_name_or_nothing() -> None:
    assert text.did_you_mean("new_deal", ["new_deals", "financing"]) == (
        " Did you mean 'new_deals'?"
    )
    assert text.did_you_mean("zzz", ["new_deals", "financing"]) == ""


def test_the_docstring_examples_hold() -> None:
    failed, tried = doctest.testmod(text)
    assert tried >= 6 and failed == 0


def test_a_qualified_figure_keeps_its_qualifier_and_a_share_of_it_says_so() -> None:
    assert text.amount(22, "GW", qualifier="approximate") == "~22 GW"
    assert text.amount(60, "USD bn", qualifier="more than") == "> USD 60 bn"
    assert text.amount(30, "count", None, "deals", "at least") == "≥ 30 deals"
    assert text.amount(5, "EUR bn", qualifier="up to") == "≤ EUR 5 bn"
    assert text.amount(None, "GW", qualifier="approximate") == "no data yet"
    assert text.number(7, "less than") == "< 7"
    assert text.percent(0.3, "at least") == "at least 30.0 %"
    assert text.percent(0.1, "more than") == "more than 10.0 %"
    assert text.percent(0.5, "approximate") == "about 50.0 %"
