"""What a recharge costs and buys, in integers: cents of the currency, tenths of a kWh, VAT in basis points.

The price per kWh is what the customer pays, VAT included (the seed's receipt: 3 kWh at 500
make 1 500). The VAT inside a total is total x rate / (100 % + rate), rounded half up to the
cent, and the subtotal is the rest, so subtotal + VAT always equals what was paid. (The seed's
own receipt shows 19 % of the total, 285 of 1 500; that overstates the tax: 239.50 is the 19 %
VAT contained in 1 500.) The energy is the money over the price, rounded up to the 0.1 kWh a
token carries: the customer never gets less than paid for.
"""

import decimal

from opsm.host.console.i18n import Label, Problem


def parse_cents(field: str, text: str) -> int:
    """An amount typed by a person ("1500", "1500.5"; "1.500,50" is refused) in cents.

    `field` is the message key of the field's name: a Problem names it in the page's language."""
    try:
        amount = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise Problem("rule.amount", Label(field), text) from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:
        raise Problem("rule.amount", Label(field), text)
    if amount >= 10 ** 12:
        raise Problem("rule.amount_max", Label(field), text)
    return int(amount * 100)


def parse_basis_points(field: str, text: str) -> int:
    """A percentage such as 19 or 19.5 in hundredths of a per cent."""
    try:
        rate = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise Problem("rule.percent", Label(field), text) from None
    if not rate.is_finite() or not 0 <= rate < 100 or rate.as_tuple().exponent < -2:
        raise Problem("rule.percent", Label(field), text)
    return int(rate * 100)


def vat_inside(total_cents: int, vat_bp: int) -> int:
    """The VAT contained in a VAT-inclusive total, half up to the cent."""
    return (2 * total_cents * vat_bp + 10000 + vat_bp) // (2 * (10000 + vat_bp))


def kwh_tenths(total_cents: int, price_cents: int) -> int:
    """0.1 kWh bought by `total_cents` at `price_cents` per kWh, rounded up."""
    return -(-total_cents * 10 // price_cents)


def text(cents: int) -> str:
    """1234550 -> "12345.50"."""
    return "%d.%02d" % divmod(cents, 100)
