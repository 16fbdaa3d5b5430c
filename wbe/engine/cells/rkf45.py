"""GSL's ``rkf45`` stepper with the standard step control, as NEST calls it, twice: compiled
(numba, one neuron at a time) and as a NumPy reference (all neurons of a block in lock step).

NEST integrates its conductance-based and Hodgkin-Huxley models with ``gsl_odeiv_evolve_apply``,
the rkf45 stepper and a standard step control (``gsl_odeiv_control_y_new(eps_abs, 0)`` for
iaf_cond_* and hh_psc_alpha; ``gsl_odeiv_control_yp_new(tol, tol)`` for aeif_cond_*), carrying
the suggested step size from one time step to the next. Both versions below transcribe those
GSL routines — the same Butcher tableau, error norm and step-size rule (safety 0.9, order 5, at
most ×5 / ×0.2, ``dydt_in`` evaluated once per call) — so the step sequence, and with it V_m and
the spike times, follow NEST's to rounding. The reference uses the C library's ``exp``/``pow``
(:mod:`.libm`) so it equals the compiled version bit for bit.

A model supplies its right-hand side twice: ``rhs(y, f, c, istim, refr)`` for one neuron
(numba; ``c`` the neuron's row of the constant table) and ``rhs_np(y, c, istim, refr) -> f`` for
many (``y`` of shape (dim, m), ``c`` a dict of (m,) arrays).
"""

from __future__ import annotations

import numba
import numpy as np

from . import libm

_AH = (1.0 / 4.0, 3.0 / 8.0, 12.0 / 13.0, 1.0, 1.0 / 2.0)
_B3 = (3.0 / 32.0, 9.0 / 32.0)
_B4 = (1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0)
_B5 = (8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0)
_B6 = (-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0, 9295.0 / 20520.0,
       -5643.0 / 20520.0)
_C1, _C3, _C4 = 902880.0 / 7618050.0, 3953664.0 / 7618050.0, 3855735.0 / 7618050.0
_C5, _C6 = -1371249.0 / 7618050.0, 277020.0 / 7618050.0
_EC1, _EC3, _EC4 = 1.0 / 360.0, -128.0 / 4275.0, -2197.0 / 75240.0
_EC5, _EC6 = 1.0 / 50.0, 2.0 / 55.0
_DBL_MIN = 2.2250738585072014e-308


def make_evolve(rhs):
    """``evolve(t0, t1, h, y, c, istim, refr, eps_abs, eps_rel, a_y, a_dydt, w) -> (t, h)``:
    one ``gsl_odeiv_evolve_apply`` (rkf45, ``gsl_odeiv_control_standard_new(eps_abs, eps_rel,
    a_y, a_dydt)``) of the numba right-hand side ``rhs`` for one neuron; ``w`` is a (10, dim)
    scratch array. Compiled as part of the kernel that calls it (not cached on its own: it is
    a closure over ``rhs``).

    Each closure is named after its ``rhs`` (``evolve[<module>.<rhs>]``): numba names compiled
    functions by module, qualified name, argument types and a per-process counter, so two
    closures of this factory could otherwise share a symbol name — and a kernel loaded from the
    cache would then call the other model's right-hand side (seen as a ZeroDivisionError when
    ``aeif_cond_exp`` ran before ``aeif_cond_beta_multisynapse`` in one process)."""

    def evolve(t0, t1, h, y, c, istim, refr, eps_abs, eps_rel, a_y, a_dydt, w):
        n = y.shape[0]
        y0, yerr, k1, k2, k3, k4, k5, k6, yt = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], \
            w[8]
        yp = w[9]
        dt = t1 - t0
        h0 = h
        for i in range(n):
            y0[i] = y[i]
        rhs(y, k1, c, istim, refr)  # dydt_in
        while True:
            final = False
            if h0 > dt:
                h0 = dt
                final = True
            for i in range(n):
                yt[i] = y[i] + _AH[0] * h0 * k1[i]
            rhs(yt, k2, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B3[0] * k1[i] + _B3[1] * k2[i])
            rhs(yt, k3, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B4[0] * k1[i] + _B4[1] * k2[i] + _B4[2] * k3[i])
            rhs(yt, k4, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B5[0] * k1[i] + _B5[1] * k2[i] + _B5[2] * k3[i]
                                     + _B5[3] * k4[i])
            rhs(yt, k5, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B6[0] * k1[i] + _B6[1] * k2[i] + _B6[2] * k3[i]
                                     + _B6[3] * k4[i] + _B6[4] * k5[i])
            rhs(yt, k6, c, istim, refr)
            for i in range(n):
                d_i = _C1 * k1[i] + _C3 * k3[i] + _C4 * k4[i] + _C5 * k5[i] + _C6 * k6[i]
                y[i] += h0 * d_i
            for i in range(n):
                yerr[i] = h0 * (_EC1 * k1[i] + _EC3 * k3[i] + _EC4 * k4[i] + _EC5 * k5[i]
                                + _EC6 * k6[i])
            if a_dydt != 0.0:
                rhs(y, yp, c, istim, refr)  # dydt_out, at t0 + h0
            t = t1 if final else t0 + h0
            # gsl_odeiv_control_hadjust (standard control)
            h_old = h0
            rmax = _DBL_MIN
            for i in range(n):
                d0 = eps_abs
                if a_dydt != 0.0:
                    d0 = eps_rel * (a_y * abs(y[i]) + a_dydt * abs(h_old * yp[i])) + eps_abs
                elif eps_rel != 0.0:
                    d0 = eps_rel * (a_y * abs(y[i])) + eps_abs
                r = abs(yerr[i]) / abs(d0)
                if r > rmax:
                    rmax = r
            if rmax > 1.1:
                fac = 0.9 / rmax ** (1.0 / 5.0)
                if fac < 0.2:
                    fac = 0.2
                h0 = fac * h_old
                if abs(h0) < abs(h_old) and t + h0 != t:
                    for i in range(n):  # undo the step, retry with the smaller h
                        y[i] = y0[i]
                    continue
                h0 = h_old
            elif rmax < 0.5:
                fac = 0.9 / rmax ** (1.0 / 6.0)
                if fac > 5.0:
                    fac = 5.0
                if fac < 1.0:
                    fac = 1.0
                h0 = fac * h_old
            return t, h0

    evolve.__qualname__ = f"evolve[{rhs.__module__}.{getattr(rhs, '__qualname__', rhs)}]"
    return numba.njit(cache=False)(evolve)


@numba.njit(cache=True)
def init_h(h, ctab, ci, col):
    """A zero integration step (a fresh neuron) starts at the time step ``ctab[ci, col]``
    (NEST's ``IntegrationStep_`` = resolution)."""
    for i in range(h.shape[0]):
        if h[i] == 0.0:
            h[i] = ctab[ci[i], col]


def evolve_np(rhs_np, t0, t1, h, y, c, istim, refr, eps_abs, eps_rel, a_y, a_dydt):
    """NumPy reference of :func:`make_evolve`'s ``evolve`` for m neurons at once: ``t0``,
    ``t1``, ``h`` are (m,) arrays, ``y`` (dim, m) is updated in place, ``c`` a dict of (m,)
    arrays, ``istim`` (m,), ``refr`` (m,) bool; ``eps_*``/``a_*`` scalars or (m,) arrays.
    Every neuron follows exactly the scalar algorithm's arithmetic. Returns (t, h)."""
    m = y.shape[1]
    t_out = np.empty(m)
    h_out = np.empty(m)
    dt = t1 - t0
    h0 = np.array(h, dtype=np.float64)
    y0 = y.copy()
    k1 = rhs_np(y, c, istim, refr)
    eps_abs, eps_rel, a_y, a_dydt = (np.broadcast_to(np.asarray(v, np.float64), (m,))
                                     for v in (eps_abs, eps_rel, a_y, a_dydt))
    act = np.arange(m)
    while act.size:
        if act.size == m:  # everyone (the first try): no copies
            ya, ca, ia, ra, k1a = y.copy(), c, istim, refr, k1
        else:
            ya = y[:, act]
            ca = {k: v[act] for k, v in c.items()}
            ia, ra = istim[act], refr[act]
            k1a = k1[:, act]
        hh = h0[act]
        final = hh > dt[act]
        hh = np.where(final, dt[act], hh)
        yt = ya + _AH[0] * hh * k1a
        k2 = rhs_np(yt, ca, ia, ra)
        yt = ya + hh * (_B3[0] * k1a + _B3[1] * k2)
        k3 = rhs_np(yt, ca, ia, ra)
        yt = ya + hh * (_B4[0] * k1a + _B4[1] * k2 + _B4[2] * k3)
        k4 = rhs_np(yt, ca, ia, ra)
        yt = ya + hh * (_B5[0] * k1a + _B5[1] * k2 + _B5[2] * k3 + _B5[3] * k4)
        k5 = rhs_np(yt, ca, ia, ra)
        yt = ya + hh * (_B6[0] * k1a + _B6[1] * k2 + _B6[2] * k3 + _B6[3] * k4 + _B6[4] * k5)
        k6 = rhs_np(yt, ca, ia, ra)
        d = _C1 * k1a + _C3 * k3 + _C4 * k4 + _C5 * k5 + _C6 * k6
        ya = ya + hh * d
        yerr = hh * (_EC1 * k1a + _EC3 * k3 + _EC4 * k4 + _EC5 * k5 + _EC6 * k6)
        use_dydt = a_dydt[act] != 0.0
        yp = rhs_np(ya, ca, ia, ra) if use_dydt.any() else np.zeros_like(ya)
        t = np.where(final, t1[act], t0[act] + hh)
        h_old = hh
        er, ay, ad, ea = eps_rel[act], a_y[act], a_dydt[act], eps_abs[act]
        d0 = np.where(use_dydt, er * (ay * np.abs(ya) + ad * np.abs(h_old * yp)) + ea,
                      np.where(er != 0.0, er * (ay * np.abs(ya)) + ea, ea))
        rmax = np.maximum(np.max(np.abs(yerr) / np.abs(d0), axis=0), _DBL_MIN)
        new_h = h_old.copy()
        retry = np.zeros(act.size, dtype=bool)
        big = rmax > 1.1
        if big.any():
            fac = 0.9 / libm.pow(rmax[big], 1.0 / 5.0)
            fac = np.where(fac < 0.2, 0.2, fac)
            hb = fac * h_old[big]
            rb = (np.abs(hb) < np.abs(h_old[big])) & (t[big] + hb != t[big])
            new_h[big] = np.where(rb, hb, h_old[big])
            retry[np.flatnonzero(big)[rb]] = True
        small = rmax < 0.5
        if small.any():
            fac = 0.9 / libm.pow(rmax[small], 1.0 / 6.0)
            fac = np.where(fac > 5.0, 5.0, fac)
            fac = np.where(fac < 1.0, 1.0, fac)
            new_h[small] = fac * h_old[small]
        done = ~retry
        y[:, act[done]] = ya[:, done]
        t_out[act[done]] = t[done]
        h_out[act[done]] = new_h[done]
        y[:, act[retry]] = y0[:, act[retry]]  # undo, retry with the smaller h
        h0[act[retry]] = new_h[retry]
        act = act[retry]
    return t_out, h_out


def integrate_np(rhs_np, y, h, c, istim, refr, dt_ms, eps_abs, eps_rel, a_y, a_dydt) -> None:
    """NumPy reference of NEST's ``while (t < step) gsl_odeiv_evolve_apply(...)`` over one time
    step for every neuron (columns of ``y``, updated in place, as is the carried step ``h``)."""
    n = y.shape[1]
    t = np.zeros(n)
    t1 = np.full(n, float(dt_ms))
    while True:
        idx = np.flatnonzero(t < t1)
        if not idx.size:
            return
        if idx.size == n:
            ts, hs = evolve_np(rhs_np, t, t1, h, y, c, istim, refr, eps_abs, eps_rel, a_y, a_dydt)
            t[:], h[:] = ts, hs
            continue
        ys = y[:, idx]
        ts, hs = evolve_np(rhs_np, t[idx], t1[idx], h[idx], ys, {k: v[idx] for k, v in c.items()},
                           istim[idx], refr[idx],
                           *(v[idx] if np.ndim(v) else v for v in (eps_abs, eps_rel, a_y, a_dydt)))
        y[:, idx] = ys
        t[idx] = ts
        h[idx] = hs
