r"""Von Neumann analysis of explicit schemes for (CD) and their monotonicity conditions.

Convention d_t u = v u_x + a u_xx (docs/theory.md): for v > 0 information comes from the right, so
upwind uses the forward difference (u_{j+1} - u_j)/dx. With C = |v| dt/dx and r = a dt/dx^2:
- forward Euler + upwind: G = 1 - C - 2r + (C + r) e^{i th} + r e^{-i th};
- forward Euler + central: G = 1 - 4 r sin^2(th/2) + i C sin th.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .checks import Check, is_zero

C, r, th = sp.symbols("C r theta", nonnegative=True)


@dataclass(frozen=True)
class StabilityResult:
    scheme: str
    amplification: sp.Expr
    condition: str
    checks: tuple[Check, ...]


def upwind_1d(coeffs: dict | None = None) -> StabilityResult:
    """|G| <= 1 for all theta iff C + 2r <= 1, the same as monotonicity (coefficients >= 0).
    ``coeffs`` replaces the scheme's (for negative controls)."""
    coeffs = coeffs or {"center": 1 - C - 2 * r, "upwind": C + r, "downwind": r}
    G = coeffs["center"] + coeffs["upwind"] * sp.exp(sp.I * th) + coeffs["downwind"] * sp.exp(
        -sp.I * th)
    at_pi = sp.simplify(G.subs(th, sp.pi))
    # necessity: G(pi) = 1 - 2C - 4r >= -1 iff C + 2r <= 1
    nec = is_zero(at_pi - (1 - 2 * C - 4 * r))
    # sufficiency: with all coefficients >= 0, |G| <= sum of coefficients = 1
    total = is_zero(sum(coeffs.values()) - 1)
    # the scheme is exact for u = f(x + v t) discretised: consistency G ~ exp(i C th) to O(th^2)
    cons = is_zero(sp.series(G, th, 0, 2).removeO() - (1 + sp.I * C * th))
    return StabilityResult(
        "forward Euler + first-order upwind (1-D)", G, "C + 2 r <= 1",
        (Check("G(pi) = 1 - 2C - 4r: |G(pi)| <= 1 requires C + 2r <= 1", nec, str(at_pi),
               expected="1 - 2*C - 4*r", computed=str(at_pi)),
         Check("coefficients sum to 1; all >= 0 iff C + 2r <= 1, then |G| <= 1 (and the scheme "
               "is monotone)", total, str(coeffs), expected="1",
               computed=str(sp.simplify(sum(coeffs.values())))),
         Check("consistency: G = 1 + i C theta + O(theta^2)", cons, "",
               expected="1 + I*C*theta", computed=str(sp.series(G, th, 0, 2).removeO()))))


def central_1d() -> StabilityResult:
    """|G|^2 - 1 = w ((4r^2 - C^2) w + 2C^2 - 4r), w = 1 - cos th in [0, 2]: stable iff
    C^2 <= 2r <= 1."""
    G = 1 - 4 * r * sp.sin(th / 2) ** 2 + sp.I * C * sp.sin(th)
    w = sp.Symbol("w", nonnegative=True)
    # with w = 1 - cos(theta): Re G = 1 - 2 r w and (Im G)^2 = C^2 w (2 - w)
    re_ok = is_zero(sp.simplify((sp.re(G) - (1 - 2 * r * (1 - sp.cos(th)))).rewrite(sp.cos)))
    im_ok = is_zero(sp.simplify(sp.im(G) ** 2 - C**2 * (1 - sp.cos(th)) * (1 + sp.cos(th))))
    mod2_w = (1 - 2 * r * w) ** 2 + C**2 * w * (2 - w)
    want = sp.expand(w * ((4 * r**2 - C**2) * w + 2 * C**2 - 4 * r))
    ident = re_ok and im_ok and is_zero(sp.expand(mod2_w - 1 - want))
    # linear in w: non-positive on (0, 2] iff at w -> 0+: 2C^2 - 4r <= 0, at w = 2: 8r^2 - 4r <= 0
    ends = (sp.expand(want / w).subs(w, 0), sp.expand(want / w).subs(w, 2))
    ends_ok = is_zero(ends[0] - (2 * C**2 - 4 * r)) and is_zero(ends[1] - (8 * r**2 - 4 * r))
    return StabilityResult(
        "forward Euler + central differences (1-D)", G, "C^2 <= 2 r <= 1",
        (Check("|G|^2 - 1 = w((4r^2 - C^2) w + 2C^2 - 4r), w = 1 - cos theta", ident, "",
               expected=str(want), computed=str(sp.expand(mod2_w - 1))),
         Check("endpoints w = 0, 2 give C^2 <= 2r and r <= 1/2", ends_ok, str(ends),
               expected="(2*C**2 - 4*r, 8*r**2 - 4*r)", computed=str(ends))))


def upwind_2d() -> StabilityResult:
    """Dimension-by-dimension upwind + central diffusion: monotone and stable iff
    C_x + 2 r_x + C_y + 2 r_y <= 1."""
    Cx, Cy, rx, ry = sp.symbols("C_x C_y r_x r_y", nonnegative=True)
    a, b = sp.symbols("alpha beta", real=True)
    center = 1 - Cx - 2 * rx - Cy - 2 * ry
    G = center + (Cx + rx) * sp.exp(sp.I * a) + rx * sp.exp(-sp.I * a) \
        + (Cy + ry) * sp.exp(sp.I * b) + ry * sp.exp(-sp.I * b)
    at_pi = sp.simplify(G.subs({a: sp.pi, b: sp.pi}))
    nec = is_zero(at_pi - (1 - 2 * (Cx + 2 * rx + Cy + 2 * ry)))
    total = is_zero(center + 2 * rx + Cx + 2 * ry + Cy - 1)
    return StabilityResult(
        "forward Euler + upwind (2-D)", G, "C_x + 2 r_x + C_y + 2 r_y <= 1",
        (Check("G(pi, pi) = 1 - 2 (C_x + 2r_x + C_y + 2r_y): necessity", nec, str(at_pi),
               expected=str(sp.expand(1 - 2 * (Cx + 2 * rx + Cy + 2 * ry))),
               computed=str(sp.expand(at_pi))),
         Check("coefficients sum to 1, non-negative iff the condition holds: sufficiency and "
               "monotonicity", total, "", expected="1",
               computed=str(sp.simplify(center + 2 * rx + Cx + 2 * ry + Cy)))))


def monotone_upwind_limit(courant: float | list[float], diffusion_number: float | list[float]
                          ) -> float:
    """Left side of the monotonicity condition sum_k (C_k + 2 r_k) (<= 1 required)."""
    cs = [courant] if isinstance(courant, float | int) else list(courant)
    rs = [diffusion_number] if isinstance(diffusion_number, float | int) else list(
        diffusion_number)
    return float(sum(cs) + 2 * sum(rs))


def analyses() -> list[StabilityResult]:
    return [upwind_1d(), central_1d(), upwind_2d()]
