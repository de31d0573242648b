"""One formatter for every number of the report, and one renderer for formulas.

Numbers are printed with significant digits matched to their uncertainty: an estimate with a
confidence interval or a standard deviation takes as many decimals as the interval's half-width
(or the deviation) needs for two significant digits, so "+0.08 (95% CI +0.0709 .. +0.0891)"
becomes "+0.0800 (95% CI +0.0709 .. +0.0891)" and "1.11e-17 +- 0.0094" becomes
"0.0000 ± 0.0094". Values that were not measured print as "n/a", never as nan.
"""

from __future__ import annotations

import math
import re

NA = "n/a"


def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _decimals(spread: float, digits: int = 2) -> int:
    """Decimals that show ``spread`` with ``digits`` significant digits (at least 0)."""
    if not _finite(spread) or spread <= 1e-12:  # no spread worth showing: three decimals
        return 3
    return min(12, max(0, digits - 1 - math.floor(math.log10(abs(spread)))))


def _fixed(x: float, decimals: int, sign: bool = False) -> str:
    text = f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"
    # no negative zero: -0.000 is 0.000
    if re.fullmatch(r"[+-]?0(\.0*)?", text):
        text = ("+" if sign else "") + text.lstrip("+-")
    return text


def num(x, digits: int = 3, *, sign: bool = False, trim: bool = False) -> str:
    """``x`` with ``digits`` significant digits (scientific below 1e-3 and above 1e5); an
    integer stays an integer; n/a for None or a value that is not finite. ``trim``: drop
    trailing zeros (for a setting such as delta = 0.02, whose digits are exact, not
    measured)."""
    text = _num(x, digits, sign)
    if trim and "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _num(x, digits: int, sign: bool) -> str:
    if x is None or isinstance(x, bool):
        return NA if x is None else str(x)
    if isinstance(x, int):
        return f"{x:+d}" if sign else str(x)
    if not _finite(x):
        return NA
    if x == 0:
        return "+0" if sign else "0"
    # the magnitude after rounding to ``digits`` (9.9996 at 3 digits is 10.0, not 10.00)
    mag = int(f"{abs(x):.{digits - 1}e}".split("e")[1])
    if mag < -3 or mag >= 5:
        text = f"{x:+.{digits - 1}e}" if sign else f"{x:.{digits - 1}e}"
        mant, exp = text.split("e")
        return f"{mant}e{int(exp)}"
    return _fixed(x, max(0, digits - 1 - mag), sign)


def estimate(x, lo, hi, *, sign: bool = True, level: str = "95% CI") -> str:
    """An estimate with its interval, all three with the decimals the half-width needs."""
    if not (_finite(x) and _finite(lo) and _finite(hi)):
        return num(x, sign=sign) + (f" ({level} {NA})" if x is not None else "")
    d = _decimals((hi - lo) / 2)
    return (f"{_fixed(x, d, sign)} ({level} {_fixed(lo, d, sign)} .. "
            f"{_fixed(hi, d, sign)})")


def mean_sd(mean, sd, *, unit: str = "") -> str:
    """mean ± sd, both with the decimals the sd needs (sd 0 or missing: three digits)."""
    if not _finite(mean):
        return NA
    if not _finite(sd) or sd == 0:
        return num(mean) + unit + (" ± 0" if _finite(sd) else "")
    d = _decimals(sd)
    if abs(mean) >= 1e5 or (abs(mean) < 1e-3 and sd < 1e-3):
        return f"{num(mean)} ± {num(sd, 2)}{unit}"
    return f"{_fixed(mean, d)} ± {_fixed(sd, d)}{unit}"


def interval(lo, hi) -> str:
    """An interval lo .. hi with matched decimals."""
    if not (_finite(lo) and _finite(hi)):
        return NA
    d = _decimals((hi - lo) / 2)
    return f"{_fixed(lo, d)} .. {_fixed(hi, d)}"


def percent(fraction, digits: int = 3) -> str:
    """A fraction as a percentage with ``digits`` significant digits (no negative zero)."""
    if not _finite(fraction):
        return NA
    return num(100 * fraction, digits) + "%"


def p_value(p) -> str:
    """A p-value: three significant digits, '< 1e-6' below that."""
    if not _finite(p):
        return NA
    return "< 1e-6" if p < 1e-6 else num(p, 3)


def relative_gap(value, reference, what: str = "below") -> str:
    """How far ``value`` lies below (or above) ``reference``, in words: "2.3% below",
    "1.2e-5 relative above", "equal to 1e-12"."""
    if not (_finite(value) and _finite(reference)) or reference == 0:
        return NA
    rel = (reference - value) / abs(reference)
    if abs(rel) < 1e-12:
        return "equal to 1e-12"
    side = what if rel > 0 else ("above" if what == "below" else "below")
    if abs(rel) < 1e-4:
        return f"{num(abs(rel), 2)} relative {side}"
    return f"{percent(abs(rel))} {side}"


_POW = re.compile(r"\*\*")


def formula(text: str) -> str:
    """A formula in sympy's plain-text syntax for a reader: powers as ^ (sympy prints ** for
    powers and nothing else), the rest as sympy wrote it. Escaping is the renderer's job."""
    return _POW.sub("^", str(text))
