"""The explicit step of RK3/RK4 with central schemes under either spectral bound (solve's
dt_bound): the Arnoldi estimate against dense eigenvalues, RK4's stability polynomial on the
whole spectrum at the step it gives (a too-small estimate as the mutant), and the accuracy of a
3-D box solve at the larger step against its closed form."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import linear_family_exact, linear_family_problem

import numerics.stability as stab
from numerics import Grid, NumericsError, Problem, UnstableTimeStepError, solve
from numerics.solve import assemble
from theory.linear_family import family

BOX = (-1.0, 1.0)
SPIRAL = next(f for f in family(3) if f.name == "spiral sink 3-D, Gaussian")


def _operator(n: int, scheme: str = "central4"):
    grid = Grid(bounds=(BOX,) * 3, shape=(n,) * 3)
    prob = linear_family_problem(SPIRAL, grid, "dirichlet", 0.5)
    return prob, assemble(prob, 0.0, scheme, scheme).L


def _rk4_amplification(z: np.ndarray) -> np.ndarray:
    return np.abs(1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24)


@pytest.mark.parametrize("scheme", ["central2", "central4"])
def test_the_arnoldi_radius_equals_the_largest_dense_eigenvalue(scheme):
    """12^3 = 1728 unknowns: ARPACK's path (above DENSE_BELOW) against numpy's eigenvalues of
    the same operator, to the estimate's tolerance; the Gershgorin bound is far wider there
    (the one-sided wall closures), which is why the option exists."""
    _, L = _operator(12, scheme)
    assert L.shape[0] >= stab.DENSE_BELOW
    dense = np.abs(np.linalg.eigvals(L.toarray())).max()
    rho = stab.spectral_radius(L)
    assert rho == pytest.approx(dense, rel=stab.ARNOLDI_TOL)
    c, R = stab.gershgorin(L)
    assert (c + R).max() > 2 * dense


def test_the_arnoldi_step_keeps_every_eigenvalue_inside_rk4s_region(monkeypatch):
    """At the 'arnoldi' limit, |P(dt lambda)| <= 1 for every eigenvalue of the operator (RK4's
    stability polynomial); the step is over 1.5x Gershgorin's (1.8x: central4's interior
    stencil is wide too; central2 3.2x, B6 of bench_fd 6x). The mutant, an estimate a
    third of the true radius, gives a step at which some eigenvalue is amplified."""
    _, L = _operator(12)
    lam = np.linalg.eigvals(L.toarray())
    dt = stab.explicit_dt_limit(L, "rk4", spectrum=True)
    assert _rk4_amplification(dt * lam).max() <= 1 + 1e-9
    assert dt > 1.5 * stab.explicit_dt_limit(L, "rk4")
    true = stab.spectral_radius(L)
    monkeypatch.setattr(stab, "spectral_radius", lambda L: true / 3)
    wrong = stab.explicit_dt_limit(L, "rk4", spectrum=True)
    assert _rk4_amplification(wrong * lam).max() > 1.01


def test_a_solve_at_the_arnoldi_step_keeps_its_accuracy_in_fewer_steps():
    """The spiral-sink Gaussian in the 3-D box, central4/RK4 at 16^3 and 24^3: under 'arnoldi'
    at least 1.5x fewer steps than under 'gershgorin' (20 against 11 at 16^3), the error
    against the closed form within 5% of Gershgorin's (the space error dominates both), the
    bound named in stats; a
    dt above the 'arnoldi' limit is still refused, and an unknown bound is one clear error."""
    exact = linear_family_exact(SPIRAL)
    for n in (16, 24):
        prob, _ = _operator(n)
        runs = {b: solve(prob, convection="central4", diffusion="central4", stepper="rk4",
                         dt_bound=b) for b in ("gershgorin", "arnoldi")}
        err = {b: np.abs(s.final[0] - exact(prob.grid.coords, 0.5)).max()
               for b, s in runs.items()}
        assert runs["arnoldi"].stats["dt_bound"] == "arnoldi"
        for run in runs.values():  # the steps' own time is part of the whole
            assert 0 < run.stats["stepping_s"] < run.stats["wall_time_s"]
        assert runs["gershgorin"].stats["steps"] >= 1.5 * runs["arnoldi"].stats["steps"], n
        assert err["arnoldi"] <= 1.05 * err["gershgorin"], (n, err)
    h = 0.5 / runs["arnoldi"].stats["steps"]
    with pytest.raises(UnstableTimeStepError, match="exceeds the stability limit"):
        solve(prob, convection="central4", diffusion="central4", stepper="rk4", dt=1.5 * h,
              dt_bound="arnoldi")
    with pytest.raises(NumericsError, match="unknown dt_bound 'lanczos'; valid: gershgorin"):
        solve(prob, stepper="rk4", dt_bound="lanczos")


def test_the_dense_path_is_left_to_small_operators_and_both_paths_agree():
    """Dense eigenvalues cost O(N^3): at 1024 unknowns 0.55 s against ARPACK's 1.2 ms, which
    made a 32^2 run 100x slower than its steps (DENSE_BELOW was 1500). 20^2 = 400 unknowns
    now take ARPACK's path, to its tolerance of the dense radius; 8^2 the dense one (exact)."""
    import numerics.stability as stab

    assert stab.DENSE_BELOW <= 128
    for n, path in ((20, "arpack"), (8, "dense")):
        grid = Grid(bounds=(BOX, BOX), shape=(n, n))
        prob = linear_family_problem(family(2)[0], grid, "dirichlet", 0.5)
        L = assemble(prob, 0.0, "central2", "central2").L
        assert (L.shape[0] >= stab.DENSE_BELOW) == (path == "arpack")
        dense = np.abs(np.linalg.eigvals(L.toarray())).max()
        assert stab.spectral_radius(L) == pytest.approx(dense, rel=stab.ARNOLDI_TOL
                                                        if path == "arpack" else 1e-12)


def _dense_gershgorin(D: np.ndarray):
    return -np.diag(D), np.abs(D).sum(axis=1) - np.abs(np.diag(D))


@pytest.mark.parametrize("seed", range(6))
def test_gershgorin_and_the_monotone_test_equal_their_dense_definitions(seed):
    """The row sums are taken on the stored entries: against the dense matrix's definition on
    random sparse matrices with empty rows (the last one too), explicit zeros and duplicate
    entries (which must be summed before |.|: an entry stored as 2 and -3 is -1). Controls:
    the sum of |.| over the duplicates, which a bare row sum of |data| gives, is not R, and
    the monotone test's answer changes with the sign of one off-diagonal entry."""
    import scipy.sparse as sps

    rng = np.random.default_rng(seed)
    N = 30
    nnz = 120
    rows = rng.integers(0, N - 5, nnz)  # rows N-5 .. N-1 empty
    cols = rng.integers(0, N, nnz)
    vals = rng.normal(size=nnz)
    rows = np.concatenate([rows, [3, 3, 4]])
    cols = np.concatenate([cols, [7, 7, 9]])
    vals = np.concatenate([vals, [2.0, -3.0, 0.0]])  # a duplicate pair, an explicit zero
    L = sps.csr_matrix((vals, (rows, cols)), shape=(N, N))
    raw = sps.csr_matrix((vals, (rows, cols)), shape=(N, N))
    raw.has_canonical_format = False  # as built by hand: duplicates kept
    raw.indptr, raw.indices, raw.data = _unsummed(rows, cols, vals, N)
    D = L.toarray()
    for M in (L, raw, L.tocoo(), L.tocsc()):
        c, R = stab.gershgorin(M)
        c0, R0 = _dense_gershgorin(D)
        np.testing.assert_allclose(c, c0, rtol=0, atol=1e-14)
        np.testing.assert_allclose(R, R0, rtol=0, atol=1e-13)
    # scipy's own row sums of |L|, bit for bit (the explicit steps keep their dt exactly)
    c, R = stab.gershgorin(L)
    np.testing.assert_array_equal(R, np.asarray(abs(L).sum(axis=1)).ravel() - np.abs(np.diag(D)))
    naive = np.bincount(stab.rows_of(raw), weights=np.abs(raw.data), minlength=N)
    assert not np.allclose(naive - np.abs(np.diag(D)), R0)
    # the monotone test: all off-diagonal entries made >= 0, then one made negative
    P = sps.csr_matrix(np.abs(D) - 2 * np.diag(np.abs(np.diag(D))))
    assert stab.is_monotone_operator(P)
    P = P.tolil()
    P[3, 7] = -0.5
    assert not stab.is_monotone_operator(P.tocsr())
    # duplicates 2 and -1 at (3, 7): the stored -1 alone is negative, the entry (1) is not
    dup = sps.csr_matrix((np.array([-1.0, 1.0, 2.0, -1.0]), np.array([3, 3, 7, 7]),
                          np.array([0, 0, 0, 0, 4] + [4] * (N - 4))), shape=(N, N))
    dup.has_canonical_format = False
    assert stab.is_monotone_operator(dup)


def _unsummed(rows, cols, vals, N):
    """CSR arrays that keep duplicate entries (in the given order within each row)."""
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=N))])
    return indptr, cols[order], vals[order]


@pytest.mark.parametrize("scheme", ["central2", "central4"])
def test_the_assembled_operators_are_canonical_so_their_readers_sort_nothing(scheme):
    """conv, diff and L come out of assemble with sorted, summed indices (the mixed terms'
    sparse products leave theirs unsorted unless sorted at their cache: then every sum took
    scipy's general path and the Gershgorin bound sorted a copy, 4 ms of a 23^3 solve). The
    check reads the index arrays, not scipy's cached flag. Control: a product as scipy returns
    it is not canonical."""
    import importlib

    from scipy.sparse._sparsetools import csr_has_canonical_format

    solve_module = importlib.import_module("numerics.solve")  # the attribute is the function

    def canonical(M):
        return bool(csr_has_canonical_format(M.shape[0], M.indptr, M.indices))

    solve_module._product.cache_clear()
    prob, _ = _operator(10, scheme)
    d = assemble(prob, 0.0, scheme, scheme)
    assert canonical(d.L) and canonical(d.conv) and canonical(d.diff)
    key = ("d1_central4", 0, (10,) * 3, (0.2,) * 3, "dirichlet", "dirichlet", None)
    other = ("d1_central4", 1, (10,) * 3, (0.2,) * 3, "dirichlet", "dirichlet", None)
    raw = (solve_module._embedded(*key) @ solve_module._embedded(*other)).tocsr()
    assert not canonical(raw)


@pytest.mark.parametrize("scheme", ["central2", "central4"])
def test_the_perron_bound_encloses_the_spectrum_and_rk4_is_stable_at_its_step(scheme,
                                                                               monkeypatch):
    """perron_bound is an enclosure, not an estimate: at or above every |lambda| of the 12^3
    spiral box's operator and above rho(|L|) (dense eigenvalues), at or below Gershgorin's
    bound and, on this box, under 0.6 of it (the point of it); RK4 at its step amplifies no
    eigenvalue, a step over 1.5x Gershgorin's. A matrix with zero rows (|L| x has zeros: the
    shifted power steps keep x positive) gets a finite bound above its spectrum. Control: a
    bound half as large gives a step at which some eigenvalue is amplified."""
    import scipy.sparse as sps

    _, L = _operator(12, scheme)
    lam = np.linalg.eigvals(L.toarray())
    rho_abs = np.abs(np.linalg.eigvals(np.abs(L.toarray()))).max()
    bound = stab.perron_bound(L)
    c, R = stab.gershgorin(L)
    assert np.abs(lam).max() <= rho_abs * (1 + 1e-12) <= bound * (1 + 1e-12)
    assert bound <= (c + R).max() and bound < 0.6 * (c + R).max()
    dt = stab.explicit_dt_limit(L, "rk4", perron=True)
    assert _rk4_amplification(dt * lam).max() <= 1 + 1e-9
    assert dt > 1.5 * stab.explicit_dt_limit(L, "rk4")
    Z = sps.block_diag([sps.csr_matrix((5, 5)), L[:50, :50]]).tocsr()  # five zero rows
    zb = stab.perron_bound(Z)
    assert np.isfinite(zb) and zb >= np.abs(np.linalg.eigvals(Z.toarray())).max()
    monkeypatch.setattr(stab, "perron_bound", lambda L: bound / 2)
    wrong = stab.explicit_dt_limit(L, "rk4", perron=True)
    assert _rk4_amplification(wrong * lam).max() > 1.01


def test_a_solve_at_the_perron_step_keeps_its_accuracy_in_fewer_steps():
    """dt_bound='perron' in solve: at 16^3 central4/RK4 at least 1.8x fewer steps than
    'gershgorin' (38 against 17 on the bench's B6), the error within 5% of Gershgorin's, the
    bound named in stats; time-dependent coefficients keep it (it is rigorous at every
    step's bound), and a dt above its limit is refused."""
    exact = linear_family_exact(SPIRAL)
    prob, _ = _operator(16)
    runs = {b: solve(prob, convection="central4", diffusion="central4", stepper="rk4",
                     dt_bound=b) for b in ("gershgorin", "perron")}
    err = {b: np.abs(s.final[0] - exact(prob.grid.coords, 0.5)).max() for b, s in runs.items()}
    assert runs["perron"].stats["dt_bound"] == "perron"
    assert runs["gershgorin"].stats["steps"] >= 1.8 * runs["perron"].stats["steps"]
    assert err["perron"] <= 1.05 * err["gershgorin"], err
    h = 0.5 / runs["perron"].stats["steps"]
    with pytest.raises(UnstableTimeStepError, match="exceeds the stability limit"):
        solve(prob, convection="central4", diffusion="central4", stepper="rk4", dt=1.5 * h,
              dt_bound="perron")
    grid = Grid(bounds=(BOX, BOX), shape=(16, 16))
    x, y = grid.coords
    moving = solve(Problem(grid=grid, initial=np.exp(-10 * (x**2 + y**2)), t_end=0.2,
                           velocity=lambda c, t: np.stack([-c[1], c[0]]) * (1 + t),
                           diffusion=0.01, boundary=("dirichlet", 0.0)),
                   convection="central4", diffusion="central4", stepper="rk4",
                   dt_bound="perron")
    assert moving.stats["dt_bound"] == "perron" and np.isfinite(moving.final).all()


def test_the_perron_bound_of_a_nilpotent_operator_tends_to_its_zero_spectrum():
    """A strictly upper-triangular L (|L| nilpotent, every eigenvalue 0): the bound falls from
    Gershgorin's 2 toward rho(|L|) = 0 (below 1e-6 after PERRON_STEPS; the shift keeps x
    positive, so not to 0 exactly) and the step it gives is finite. An eigenvalue bound
    allows large steps here (RK4 is exact for this L: L^5 = 0); accuracy is the caller's dt.
    Control: with x held at 1 (no power steps) the value is Gershgorin's."""
    import scipy.sparse as sps

    L = sps.diags([np.full(4, -2.0)], [1], shape=(5, 5)).tocsr()
    c, R = stab.gershgorin(L)
    bound = stab.perron_bound(L)
    assert (c + R).max() == 2.0 and 0 < bound < 1e-6
    assert np.isfinite(stab.explicit_dt_limit(L, "rk4", perron=True))
    assert stab.explicit_dt_limit(L, "rk4", perron=True) > stab.explicit_dt_limit(L, "rk4")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stab, "PERRON_STEPS", 0)
        assert stab.perron_bound(L) == 2.0


def test_a_bound_that_would_not_set_the_step_is_refused_and_none_is_recorded():
    """Only RK3/RK4 with unlimited convection take their step from a spectral bound: asking
    another stepper (Crank-Nicolson, forward Euler) or a limited scheme for 'perron' or
    'arnoldi' is one clear error before any step, and their stats record no bound (None), where
    they named 'gershgorin' before. Control: RK4 records the bound it used."""
    grid = Grid(bounds=(BOX, BOX), shape=(16, 16))
    x, y = grid.coords
    prob = Problem(grid=grid, initial=np.exp(-10 * (x**2 + y**2)), t_end=0.1,
                   velocity=(1.0, 0.5), diffusion=0.01, boundary=("dirichlet", 0.0))
    for stepper, conv in (("crank-nicolson", "central2"), ("euler", "upwind1"),
                          ("ssprk3", "minmod")):
        for bound in ("perron", "arnoldi"):
            with pytest.raises(NumericsError, match=f"dt_bound '{bound}' has no effect with "
                                                    f"{stepper}/{conv}"):
                solve(prob, stepper=stepper, convection=conv, dt_bound=bound)
        assert solve(prob, stepper=stepper, convection=conv).stats["dt_bound"] is None
    assert solve(prob, stepper="rk4", convection="central2",
                 dt_bound="perron").stats["dt_bound"] == "perron"


def test_ssp_rk3_on_a_monotone_operator_takes_its_ssp_limit_and_records_no_bound():
    """SSP-RK3 with upwind1/central2 (an M-matrix) takes the SSP limit dt max(-L_ii) <= 1, which
    no spectral bound enters: 'perron' or 'arnoldi' is refused before any step (it was taken
    and recorded, unused), and the default records None. Control: with central2 convection
    (not monotone) the same stepper takes the bound and records it; the route is read off the
    same call that sets the step (stability.explicit_dt_route)."""
    grid = Grid(bounds=(BOX, BOX), shape=(16, 16))
    x, y = grid.coords
    prob = Problem(grid=grid, initial=np.exp(-10 * (x**2 + y**2)), t_end=0.1,
                   velocity=(1.0, 0.5), diffusion=0.01, boundary=("dirichlet", 0.0))
    L = assemble(prob, 0.0, "upwind1", "central2").L
    assert stab.explicit_dt_route(L, "ssprk3") == (stab.explicit_dt_limit(L, "ssprk3"), "ssp")
    assert stab.explicit_dt_route(L, "rk4")[1] == "spectral"  # rk4: no SSP coefficient
    for bound in ("perron", "arnoldi"):
        with pytest.raises(NumericsError, match=f"dt_bound '{bound}' has no effect here: ssprk3 "
                                                "on this monotone operator"):
            solve(prob, stepper="ssprk3", convection="upwind1", dt_bound=bound, progress=False)
    plain = solve(prob, stepper="ssprk3", convection="upwind1")
    assert plain.stats["dt_bound"] is None
    assert plain.stats["max_dt"] <= 1.0 / float(-L.diagonal().min()) + 1e-15
    central = solve(prob, stepper="ssprk3", convection="central2", dt_bound="perron")
    assert central.stats["dt_bound"] == "perron"
    # a zero operator: nothing moves, no bound applies
    still = Problem(grid=grid, initial=np.exp(-10 * (x**2 + y**2)), t_end=0.1)
    with pytest.raises(NumericsError, match="the operator is zero"):
        solve(still, stepper="rk4", dt_bound="perron")
    assert solve(still, stepper="rk4").stats["dt_bound"] is None
    # coefficients that change: still over the whole first segment (to the save time 0.05) and
    # moving after it, so the bound sets later steps: not refused on the first operator, and
    # recorded
    ramp = Problem(grid=grid, initial=np.exp(-10 * (x**2 + y**2)), t_end=0.1,
                   velocity=lambda c, t: max(t - 0.05, 0.0) * np.stack(
                       [200 * np.ones_like(c[0]), 100 * np.ones_like(c[1])]),
                   boundary=("dirichlet", 0.0))
    moved = solve(ramp, stepper="rk4", convection="central2", dt_bound="perron",
                  save_times=[0.05])
    assert moved.stats["dt_bound"] == "perron" and np.isfinite(moved.final).all()
