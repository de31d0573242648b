"""Scheme registry: each entry declares its order, whether it is explicit, and monotonicity."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import NumericsError


@dataclass(frozen=True)
class SchemeInfo:
    name: str
    kind: str  # "convection" | "diffusion" | "time"
    order: int
    explicit: bool = True
    monotone: bool = False
    description: str = ""
    # the norm in which the order is declared: the TVD limiters clip smooth extrema, where they
    # are first order, so their order 2 holds in L1 (the mean error), not in the max norm
    norm: str = "max"


CONVECTION = {s.name: s for s in [
    SchemeInfo("upwind1", "convection", 1, monotone=True, description="first-order upwind"),
    SchemeInfo("minmod", "convection", 2, norm="l1",
               description="MUSCL upwind-biased, minmod limiter (TVD)"),
    SchemeInfo("vanleer", "convection", 2, norm="l1",
               description="MUSCL upwind-biased, van Leer limiter (TVD)"),
    SchemeInfo("central2", "convection", 2, description="second-order central"),
    SchemeInfo("central4", "convection", 4, description="fourth-order central"),
]}

DIFFUSION = {s.name: s for s in [
    SchemeInfo("central2", "diffusion", 2, monotone=True,
               description="second-order central; mixed term by the monotone 7-point stencil "
               "(monotone inside when |a_xy| <= min(a_xx, a_yy) on square cells; some "
               "boundary closures break it: outflow sides with any mixed term, and Dirichlet "
               "sides, whose reflected ghost folds the stencil's corner onto the face's "
               "neighbour, past about half that ratio (2-D: 0.5 keeps it, 0.6 does not; 3-D: "
               "pairs of 0.5 and 0.25 sharing an axis do not); the solver checks the assembled "
               "operator and warns, naming the faces)"),
    SchemeInfo("central4", "diffusion", 4,
               description="fourth-order central, mixed term by products of 4th-order D1"),
]}

TIME = {s.name: s for s in [
    SchemeInfo("euler", "time", 1, monotone=True, description="forward Euler"),
    SchemeInfo("ssprk2", "time", 2, monotone=True, description="SSP-RK2 (Heun), SSP coeff 1"),
    SchemeInfo("ssprk3", "time", 3, monotone=True, description="SSP-RK3 (Shu-Osher), coeff 1"),
    SchemeInfo("rk4", "time", 4, description="classical Runge-Kutta 4"),
    SchemeInfo("backward-euler", "time", 1, explicit=False, monotone=True,
               description="backward Euler, sparse LU factored once per constant interval"),
    SchemeInfo("crank-nicolson", "time", 2, explicit=False,
               description="Crank-Nicolson, sparse LU factored once per constant interval"),
    SchemeInfo("imex-euler", "time", 1, explicit=False,
               description="explicit convection, implicit diffusion (first order)"),
    SchemeInfo("semi-lagrangian", "time", 2, explicit=False,
               description="Crank-Nicolson along RK2 characteristics in two half steps (modified "
               "method of characteristics): no splitting; cubic interpolation at departure points"),
]}


def lookup(table: dict[str, SchemeInfo], name: str, what: str) -> SchemeInfo:
    try:
        return table[name]
    except KeyError:
        raise NumericsError(f"unknown {what} scheme {name!r}; valid: {', '.join(table)}") from None
