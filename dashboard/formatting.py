"""Numbers as people read them on the page: thousands separated, money without float noise."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY = "₽"  # Calltouch accounts report deal amounts in rubles
KOPECK = Decimal("0.01")
NOTHING = "—"  # a share or a ratio of zero leads


def count(value: int) -> str:
    """12345 -> '12,345'."""
    return f"{int(value):,}"


def money(value: Decimal | int) -> str:
    """Decimal('1234567.8900') -> '1,234,567.89 ₽'; whole amounts without kopecks.

    Amounts arrive as exact decimals (numeric(38, 4)), never floats, so rounding to the kopeck
    is the only change made to them.
    """
    rounded = Decimal(value).quantize(KOPECK, rounding=ROUND_HALF_UP)
    if rounded == rounded.to_integral_value():
        return f"{int(rounded):,} {CURRENCY}"
    return f"{rounded:,.2f} {CURRENCY}"


def per_lead(revenue: Decimal | int, leads: int) -> Decimal | None:
    """Revenue per lead to the kopeck, exact; None without leads."""
    if not leads:
        return None
    return (Decimal(revenue) / leads).quantize(KOPECK, rounding=ROUND_HALF_UP)


def share(part: int, whole: int) -> str:
    """3 of 8 -> '37.5%'; a dash when there is nothing to share."""
    if not whole:
        return NOTHING
    return f"{100 * part / whole:.1f}%"
