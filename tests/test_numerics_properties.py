"""Invariants, Monte Carlo against finite differences, stability limits against theory, errors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import ornstein_uhlenbeck_2d

from numerics import (
    Grid,
    NonFiniteStateError,
    NumericsError,
    Problem,
    UnstableTimeStepError,
    assemble,
    explicit_dt_limit,
    feynman_kac,
    solve,
)
from theory import scheme_analysis

MAXPRINCIPLE_TOL = 1e-12  # round-off on values of order 1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), stepper=st.sampled_from(
    ["euler", "ssprk2", "ssprk3", "backward-euler"]), dim=st.sampled_from([1, 2]))
def test_maximum_principle_of_monotone_schemes(seed, stepper, dim):
    rng = np.random.default_rng(seed)
    g = Grid(bounds=((0, 1),) * dim, shape=(12,) * dim)
    v = rng.normal(size=(dim,) + g.shape)
    if dim == 2:
        axx, ayy = rng.uniform(0.0, 0.05, size=(2,) + g.shape)
        axy = rng.uniform(-1, 1, size=g.shape) * np.minimum(axx, ayy)  # |a_xy| <= min
        A = np.array([[axx, axy], [axy, ayy]])
    else:
        A = rng.uniform(0, 0.05, size=(1,) + g.shape)
    u0 = rng.uniform(-1, 1, size=g.shape)
    p = Problem(grid=g, initial=u0, t_end=0.05, velocity=v, diffusion=A,
                boundary=rng.choice(["periodic", "neumann"]))
    u = solve(p, convection="upwind1", diffusion="central2", stepper=stepper).final
    assert u.min() >= u0.min() - MAXPRINCIPLE_TOL and u.max() <= u0.max() + MAXPRINCIPLE_TOL


def test_central4_is_not_monotone_and_violates_the_maximum_principle():
    """Negative control: the declared non-monotone scheme does overshoot on a step."""
    g = Grid(bounds=((0, 1),), shape=(64,))
    u0 = (g.coords[0] > 0.5).astype(float)
    p = Problem(grid=g, initial=u0, t_end=0.1, velocity=[1.0], boundary="periodic")
    u = solve(p, convection="central4", stepper="rk4").final
    assert u.max() > 1 + 1e-3 or u.min() < -1e-3


def test_monte_carlo_agrees_with_finite_differences():
    o = ornstein_uhlenbeck_2d()
    g = Grid(bounds=o.bounds, shape=(96, 96))
    fd = solve(o.make(g), convection="central2", diffusion="central2", stepper="crank-nicolson")
    pts = np.array([[0.0, 0.0], [0.2, -0.1], [-0.3, 0.25]])
    fd_vals = fd.at(pts)[:, 0]
    exact = o.exact((pts[:, 0], pts[:, 1]), o.t_end)
    fd_err = np.abs(fd_vals - exact)
    mc = feynman_kac(pts, lambda X: np.exp(-(X**2).sum(axis=1) / (2 * 0.09)),
                     lambda X, t: -X, 0.05, o.t_end, n_paths=20000, n_steps=200, seed=3)
    em_bias = 0.5 / 200  # weak order 1 of Euler-Maruyama: bias ~ C h with C of order 1 here
    gap = np.abs(mc.mean[:, 0] - fd_vals)
    assert np.all(gap <= 3 * mc.stderr[:, 0] + fd_err + em_bias), (gap, mc.stderr)


def test_monte_carlo_is_reproducible_and_seed_dependent():
    args = (np.zeros((2, 1)), lambda X: X[:, 0] ** 2, lambda X, t: 0 * X, 0.5, 1.0)
    a = feynman_kac(*args, n_paths=500, seed=7)
    b = feynman_kac(*args, n_paths=500, seed=7)
    c = feynman_kac(*args, n_paths=500, seed=8)
    assert np.array_equal(a.mean, b.mean) and not np.array_equal(a.mean, c.mean)
    # E X_T^2 = 2 a T = 1 for Brownian motion with A = 1/2
    assert abs(a.mean[0, 0] - 1.0) < 4 * a.stderr[0, 0]


@pytest.mark.parametrize("v,a,n", [(1.0, 0.01, 64), (2.0, 0.05, 32), (0.5, 0.0, 50)])
def test_upwind_limit_equals_theory_1d(v, a, n):
    g = Grid(bounds=((0, 1),), shape=(n,))
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, velocity=[v], diffusion=a)
    L = assemble(p, 0.0, "upwind1", "central2").L
    dt = explicit_dt_limit(L, "euler")
    dx = g.spacing[0]
    assert scheme_analysis.monotone_upwind_limit(v * dt / dx, a * dt / dx**2) == pytest.approx(1)


def test_upwind_limit_equals_theory_2d():
    g = Grid(bounds=((0, 1), (0, 2)), shape=(32, 40))
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, velocity=[1.0, -0.5],
                diffusion=[0.01, 0.02])
    dt = explicit_dt_limit(assemble(p, 0.0, "upwind1", "central2").L, "ssprk3")
    (dx, dy) = g.spacing
    lhs = scheme_analysis.monotone_upwind_limit([dt / dx, 0.5 * dt / dy],
                                                [0.01 * dt / dx**2, 0.02 * dt / dy**2])
    assert lhs == pytest.approx(1)
    # and the theory's amplification factor at that dt is bounded by 1, above it not
    G = scheme_analysis.upwind_2d().amplification
    names = {s.name: s for s in G.free_symbols}

    def max_amp(scale):
        vals = {names["C_x"]: scale * dt / dx, names["C_y"]: scale * 0.5 * dt / dy,
                names["r_x"]: scale * 0.01 * dt / dx**2, names["r_y"]: scale * 0.02 * dt / dy**2}
        f = sp.lambdify([names["alpha"], names["beta"]], G.subs(vals), "numpy")
        al, be = np.meshgrid(np.linspace(0, 2 * np.pi, 201), np.linspace(0, 2 * np.pi, 201))
        return np.abs(f(al, be)).max()

    assert max_amp(1.0) <= 1 + 1e-12 and max_amp(1.05) > 1


def test_central_euler_limit_equals_von_neumann_formula():
    v, a, n = 1.0, 0.02, 40
    g = Grid(bounds=((0, 1),), shape=(n,))
    p = Problem(grid=g, initial=np.sin(2 * np.pi * g.coords[0]), t_end=0.1, velocity=[v],
                diffusion=a)
    L = assemble(p, 0.0, "central2", "central2").L
    dx = g.spacing[0]
    dt = explicit_dt_limit(L, "euler", velocity_1d=np.full(n, v), diffusion_1d=np.full(n, a),
                           dx=dx)
    C, r = v * dt / dx, a * dt / dx**2
    assert C**2 <= 2 * r + 1e-12 and 2 * r <= 1 + 1e-12
    assert np.isclose(C**2, 2 * r) or np.isclose(2 * r, 1)  # the limit is attained


def test_unstable_fixed_dt_raises_with_numbers_and_remedy():
    g = Grid(bounds=((0, 1),), shape=(64,))
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, velocity=[1.0], diffusion=0.01)
    with pytest.raises(UnstableTimeStepError, match=r"dt = 0\.1 exceeds the stability limit"):
        solve(p, stepper="euler", dt=0.1)
    solve(p, stepper="backward-euler", dt=0.1)  # implicit: any dt


def test_bad_inputs_name_the_value_and_fix():
    g = Grid(bounds=((0, 1), (0, 1)), shape=(8, 8))
    v = np.zeros((2, 8, 8))
    v[0, 3, 4] = np.nan
    msg = r"velocity v is not finite .* at x = \(0\.4375, 0\.5625"
    with pytest.raises(NumericsError, match=msg):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, velocity=v)
    with pytest.raises(NumericsError, match=r"not positive semi-definite .* comparison principle"):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0,
                diffusion=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(NumericsError, match="not symmetric"):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=[[1.0, 0.5], [0.0, 1.0]])
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0)
    with pytest.raises(NumericsError, match="valid: upwind1, minmod"):
        solve(p, convection="weno")
    with pytest.raises(NumericsError, match="valid: euler, ssprk2"):
        solve(p, stepper="leapfrog")
    with pytest.raises(NumericsError, match="valid kinds: periodic, dirichlet"):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, boundary="reflecting")
    with pytest.raises(NumericsError, match="periodic must be set on both sides"):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0,
                boundary=[("periodic", "neumann"), "periodic"])
    with pytest.raises(NumericsError, match="expected"):
        Problem(grid=g, initial=np.zeros((3, 3)), t_end=1.0)


def test_non_finite_state_stops_with_step_and_time():
    g = Grid(bounds=((0, 1),), shape=(16,))
    # finite data whose RK4 stages overflow: the state, not the data, becomes non-finite
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=0.1,
                source=lambda c, t: np.where(t > 0.5, 1e308, 0.0) * np.ones_like(c[0]))
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(  # numpy's defaults
            NonFiniteStateError, match=r"step \d+, t = "):
        solve(p, stepper="rk4", dt=0.02)


@pytest.mark.parametrize("source, match", [
    (lambda x, y, t: x, r"source s must be callable as f\(coords, t\)"),
    (lambda c, t: np.ones(3), r"source s has shape \(3,\); expected a scalar, \(8, 8\)"),
    (lambda c, t: np.where(c[0] > 0.5, np.nan, 0.0), r"source s is not finite \(value nan\) "
     r"at x = \(0\.5625, 0\.0625\), t = 0\.0"),
    (np.zeros((2, 8, 8)), r"expected a scalar, \(8, 8\) or \(1, 8, 8\)"),
])
def test_a_bad_source_is_refused_on_construction_naming_it(source, match):
    g = Grid(bounds=((0, 1), (0, 1)), shape=(8, 8))
    with pytest.raises(NumericsError, match=match):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=0.1, source=source)


def test_a_source_that_stops_being_finite_is_named_with_its_time():
    g = Grid(bounds=((0, 1),), shape=(16,))
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=0.1,
                source=lambda c, t: np.where(t > 0.5, np.inf, 0.0) * np.ones_like(c[0]))
    with pytest.raises(NumericsError, match=r"source s is not finite \(value inf\) at x = "
                       r"\(0\.03125,\), t = 0\.6"):
        solve(p, stepper="backward-euler", dt=0.1)


def test_constant_and_array_sources_equal_their_callable():
    """Control: every accepted form of s gives the callable's numbers (u = t s for A = 0)."""
    g = Grid(bounds=((0, 1),), shape=(16,))
    field = np.sin(2 * np.pi * g.coords[0])
    runs = [solve(Problem(grid=g, initial=np.zeros(g.shape), t_end=0.5, source=s),
                  stepper="rk4", dt=0.1).final
            for s in (2.0, lambda c, t: 2.0 + 0 * c[0], field, lambda c, t: field)]
    assert np.allclose(runs[0], 1.0) and np.array_equal(runs[0], runs[1])
    assert np.allclose(runs[2], 0.5 * field) and np.array_equal(runs[2], runs[3])


def test_solution_at_wraps_periodic_axes_and_refuses_points_off_the_box():
    g = Grid(bounds=((0, 1), (0, 1)), shape=(32, 32))
    T, a = 0.1, 0.01
    sol = solve(Problem(grid=g, initial=lambda c: np.sin(2 * np.pi * c[0]), t_end=T,
                        diffusion=a), stepper="rk4")
    exact = np.exp(-a * 4 * np.pi**2 * T) * np.sin(2 * np.pi * np.array([0.3, 0.995, 0.002]))
    base = sol.at(np.array([[0.3, 0.5], [0.995, 0.5], [0.002, 0.5]]))[:, 0]
    # across the seam (beyond the last cell centre) the wrapped cell is interpolated: linear
    # interpolation's error h^2/8 |u''| = 5e-3 bounds all three
    assert np.abs(base - exact).max() < 5e-3
    shifted = sol.at(np.array([[1.3, 2.5], [-0.005, -0.5], [3.002, 7.5]]))[:, 0]
    assert np.allclose(shifted, base, atol=1e-12)
    # control: the same run read as non-periodic refuses the shifted points (they were
    # extrapolated linearly from the edge cells: 2.76 for a u of amplitude 0.96 at x = 1.5)
    flat = type(sol)(sol.grid, sol.times, sol.snapshots, sol.stats)
    with pytest.raises(NumericsError, match=r"point 0 = \[1\.3, 2\.5\] lies outside the box "
                                            r"on axis 0 \(\[0, 1\], not periodic\)"):
        flat.at(np.array([[1.3, 2.5]]))
    with pytest.raises(NumericsError, match=r"point 1 = \[nan, 0\.5\] is not finite"):
        sol.at(np.array([[0.3, 0.5], [np.nan, 0.5]]))


def test_a_two_component_source_drives_each_component_as_its_own_run():
    """A (k, *shape) source: component j of u equals the run of u0[j] with s[j] alone."""
    g = Grid(bounds=((0, 1), (0, 1)), shape=(24, 24))
    u0 = np.stack([np.sin(2 * np.pi * g.coords[0]), np.cos(2 * np.pi * g.coords[1])])

    def src(c, t):
        return np.stack([t * np.cos(2 * np.pi * c[0]), 1.0 + 0 * c[1]])

    def run(initial, source):
        return solve(Problem(grid=g, initial=initial, velocity=(0.3, -0.2), diffusion=0.01,
                             source=source, t_end=0.2), stepper="rk4").final

    both = run(u0, src)
    alone = [run(u0[j], lambda c, t, j=j: src(c, t)[j])[0] for j in range(2)]
    assert np.array_equal(both[0], alone[0]) and np.array_equal(both[1], alone[1])
    # control: the source reaches u (the constant component gains t_end = 0.2 on average)
    assert np.mean(both[1]) - np.mean(u0[1]) == pytest.approx(0.2, abs=1e-12)
    # and its components are not swapped or summed
    assert not np.allclose(both[0], run(u0[0], lambda c, t: src(c, t)[1])[0])


def test_solution_at_wraps_only_the_periodic_axes_in_3d():
    """3-D, periodic along x only: x wraps, y and z beyond their faces are refused."""
    g = Grid(bounds=((0, 1), (0, 1), (0, 1)), shape=(16, 16, 16))
    sol = solve(Problem(grid=g, initial=lambda c: np.sin(2 * np.pi * c[0]) * np.sin(
        np.pi * c[1]) * np.sin(np.pi * c[2]), t_end=0.05, velocity=(0.1, 0.0, 0.0),
        boundary=("periodic", "dirichlet", "dirichlet")), stepper="rk4",
        convection="central4")
    pts = np.array([[0.3, 0.4, 0.6], [0.99, 0.5, 0.5], [0.01, 0.2, 0.7]])
    base = sol.at(pts)[:, 0]
    # u = f(x + v t) up to the Dirichlet walls' decay (A = 0: none), within linear
    # interpolation's error on the three axes, 3 h^2/8 max|u''| ~ 0.06
    exact = (np.sin(2 * np.pi * (pts[:, 0] + 0.005)) * np.sin(np.pi * pts[:, 1])
             * np.sin(np.pi * pts[:, 2]))
    assert np.abs(base - exact).max() < 0.06
    shifted = pts + np.array([[2.0, 0, 0], [-1.0, 0, 0], [5.0, 0, 0]])
    assert np.allclose(sol.at(shifted)[:, 0], base, atol=1e-12)
    for axis in (1, 2):  # control: the same shift along a Dirichlet axis is refused
        off = pts[:1].copy()
        off[0, axis] += 1.0
        with pytest.raises(NumericsError, match=rf"lies outside the box on axis {axis} "
                                                r"\(\[0, 1\], not periodic\)"):
            sol.at(off)


def test_solution_interpolation_and_vector_valued_u():
    g = Grid(bounds=((0, 1),), shape=(32,))
    u0 = np.stack([np.sin(2 * np.pi * g.coords[0]), np.cos(2 * np.pi * g.coords[0])])
    p = Problem(grid=g, initial=u0, t_end=0.2, velocity=[0.0], diffusion=0.01)
    sol = solve(p, stepper="crank-nicolson", save_times=[0.1])
    assert sol.snapshots.shape == (3, 2, 32)
    vals = sol.at(np.array([[0.25]]), 0.0)
    assert vals[0, 0] == pytest.approx(1.0, abs=5e-3)
    with pytest.raises(NumericsError, match="outside the saved range"):
        sol.at(np.array([[0.5]]), 0.3)


def test_numerics_never_imports_sympy_or_torch():
    import subprocess
    import sys

    code = "import sys, numerics; print('sympy' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_adaptive_explicit_step_sits_at_the_safety_fraction_of_the_monotone_limit():
    from numerics.solve import SAFETY

    g = Grid(bounds=((0, 1),), shape=(64,))
    p = Problem(grid=g, initial=np.sin(2 * np.pi * g.coords[0]), t_end=0.5, velocity=[1.0],
                diffusion=0.01)
    st = solve(p, stepper="euler").stats
    # the step is rounded down to land on t_end, so C + 2r is at most SAFETY and close to it
    total = st["max_courant"] + 2 * st["max_diffusion_number"]
    assert SAFETY - 0.02 <= total <= SAFETY + 1e-12


def test_a_bad_tensor_field_is_located_and_a_constant_one_checked_once():
    """A field of tensors names the cell where symmetry or semi-definiteness fails; a constant
    tensor (checked once, broadcast read-only) says it fails everywhere."""
    g = Grid(bounds=((0, 1), (0, 1)), shape=(8, 8))
    A = np.zeros((2, 2, 8, 8))
    A[0, 0] = A[1, 1] = 0.1
    A[0, 1, 2, 5] = 0.05  # a_12 != a_21 in one cell
    with pytest.raises(NumericsError, match=r"not symmetric at grid index \(2, 5\) "):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=A)
    A[0, 1, 2, 5] = 0.0
    A[1, 1, 6, 1] = -0.2
    with pytest.raises(NumericsError, match=r"semi-definite at x = \(0\.8125, 0\.1875\)"):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=A)
    with pytest.raises(NumericsError, match="not symmetric everywhere"):
        Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=[[1.0, 0.5], [0.0, 1.0]])
    p = Problem(grid=g, initial=np.zeros(g.shape), t_end=1.0, diffusion=0.3)
    D = p.diffusion_at(0.0)
    assert D.shape == (2, 2, 8, 8) and not D.flags.writeable
    assert np.array_equal(D[:, :, 3, 4], 0.3 * np.eye(2))


def test_the_progress_bar_shows_the_time_reached_in_short_form(capfd):
    """The bar counts time, in float steps of dt: tqdm's default printed their running sum in
    full ('0.07936507936507936/1.0'); the bar shows t to 4 digits."""
    g = Grid(bounds=((0, 1),), shape=(32,))
    p = Problem(grid=g, initial=lambda c: np.sin(2 * np.pi * c[0]), velocity=1.0, t_end=1.0,
                boundary="periodic")
    solve(p, stepper="ssprk3", dt=1 / 63, progress=True)
    err = capfd.readouterr().err
    assert "t = " in err and "/ 1 [" in err, err[-300:]
    assert "0.0158730158730" not in err  # 1/63 in full


@pytest.mark.parametrize("chunk", [1 << 20, 120])
def test_monte_carlo_standard_error_is_the_sample_ones_even_far_from_zero(chunk):
    """The standard error equals std(ddof=1) / sqrt(n) of the very draws, over one chunk or
    many; with f offset by 1e8 the one-pass E[f^2] - E[f]^2 cancelled to a clipped 0 (a zero
    standard error), the merged sums of squared deviations keep it."""
    from numerics import feynman_kac

    pts = np.zeros((3, 2))
    for offset in (0.0, 1e8):
        seen = []

        def f(X, offset=offset, seen=seen):
            seen.append(X[:, 0].reshape(3, -1))
            return offset + X[:, 0]

        r = feynman_kac(pts, f, lambda X, t: np.zeros_like(X), 0.5, 1.0, n_paths=600,
                        n_steps=3, seed=4, chunk=chunk)
        draws = np.concatenate(seen, axis=1)  # (points, paths)
        want = draws.std(axis=1, ddof=1) / np.sqrt(600)
        assert np.allclose(r.stderr.ravel(), want, rtol=1e-6), (offset, r.stderr, want)
        assert np.allclose(r.mean.ravel() - offset, draws.mean(axis=1), atol=1e-7)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 3))
def test_cubic_lagrange_interpolation_is_exact_on_cubics_and_its_matrix_is_the_same_map(seed,
                                                                                      dim):
    """numerics.interpolation: a tensor-product cubic (each axis degree <= 3) is reproduced
    at any fractional index, inside and up to a cell beyond the ends (the end stencil's cubic
    extrapolates); the control, a quartic along one axis, is not. interpolation_matrix is the
    same map, sum for sum (equal bit for bit), and another point set's matrix is not."""
    from numerics.interpolation import interpolate, interpolation_matrix

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(5, 12, size=dim))
    nodes = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    coef = rng.standard_normal((dim, 4))

    def poly(xs, quartic=0.0):  # a cubic per axis; quartic: x^4 added along axis 0
        return np.prod([np.polyval(coef[k], x) + (quartic * x**4 if k == 0 else 0.0)
                        for k, x in enumerate(xs)], axis=0)

    pts = [rng.uniform(-1.0, n, size=(7, 3)) for n in shape]
    exact = poly(pts)
    assert np.abs(interpolate(poly(nodes), pts) - exact).max() <= 1e-9 * (1 + np.abs(
        exact).max())
    assert np.abs(interpolate(poly(nodes, 1.0), pts) - poly(pts, 1.0)).max() > 1e-6
    values = rng.standard_normal(shape)
    W = interpolation_matrix(shape, pts)
    assert W.shape == (21, values.size) and W.nnz == 21 * 4**dim
    assert np.array_equal((W @ values.ravel()).reshape(7, 3), interpolate(values, pts))
    other = interpolation_matrix(shape, [p + 0.25 for p in pts])
    assert not np.array_equal(other @ values.ravel(), W @ values.ravel())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 24),
       kind=st.sampled_from(["dirichlet", "neumann", "outflow", "periodic"]),
       order=st.sampled_from([2, 4]), derivative=st.sampled_from([1, 2]),
       side=st.sampled_from([0, 1]), lead=st.sampled_from([(), (3,), (2, 3)]))
def test_ghosts_on_the_cells_a_closure_reads_equal_the_whole_closure(seed, n, kind, order,
                                                                     derivative, side, lead):
    """operators.side_ghosts multiplies only the cells near the face that the closure reads (the
    far end on a periodic axis): it equals the closure's whole (GHOST x n) product W u + beta g
    on random data. Control: dropping the last cell it reads changes the ghosts."""
    from numerics import operators as ops
    from numerics.boundary import BC, ghost_weights

    rng = np.random.default_rng(seed)
    u = rng.standard_normal(lead + (n,))
    g = rng.standard_normal(lead) if kind in ("dirichlet", "neumann") else None
    dx = 1.0 / n
    W, beta = ghost_weights(BC(kind), n, ops.GHOST, dx, order, derivative)
    if side == 1:
        W = W[:, ::-1]
    whole = np.einsum("...j,kj->...k", u, W)
    if g is not None:
        whole = whole + g[..., None] * beta
    got = ops.side_ghosts(u, BC(kind), side, dx, order, derivative, g)
    assert np.allclose(got, whole, rtol=1e-13, atol=1e-13 * np.abs(u).max())
    cells, Wc, _ = ops._support(kind, n, dx, order, derivative, side)
    short = slice(cells.start, cells.stop - 1)  # the control: one cell fewer
    assert not np.allclose(u[..., short] @ Wc[:, :-1].T, u[..., cells] @ Wc.T)
