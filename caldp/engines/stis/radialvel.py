"""Heliocentric radial velocity of a target (HSTCAL ``lib/radialvel.c``): the V_HELIO that calstis1
writes into each SCI header of spectroscopic science data (not of wavecals).

Low-precision Astronomical Almanac formulas for the Earth's orbital velocity, the target precessed
from J2000 to the date (IAU 1976), in HSTCAL's double-precision operation order.

>>> round(radial_velocity(0.0, 0.0, 51544.5), 6) == round(-earth_velocity(51544.5)[0], 6)
True
"""

from __future__ import annotations

import math

PI = 3.1415926535897932384626433
DEG_RAD = PI / 180.0
ARCSEC_RAD = PI / (180.0 * 3600.0)
REFDATE = 51544.5  # MJD of 2000 Jan 1, 12h UT
KM_AU = 1.4959787e8
SEC_DAY = 86400.0


def _mod2pi(x: float) -> float:
    quotient = x / (2.0 * PI)
    iq = int(quotient)  # C's (long) truncation
    if quotient < 0.0:
        iq -= 1
    return x - float(iq) * 2.0 * PI


def earth_velocity(mjd: float) -> tuple[float, float, float]:
    """``EarthVel``: the Earth's velocity around the Sun (km/s, celestial rectangular coordinates)."""
    tdays = mjd - REFDATE
    g_dot = 0.9856003 * DEG_RAD
    l_dot = 0.9856474 * DEG_RAD
    eps = (23.439 - 0.0000004 * tdays) * DEG_RAD
    g = _mod2pi((357.528 + 0.9856003 * tdays) * DEG_RAD)
    lon = _mod2pi((280.461 + 0.9856474 * tdays) * DEG_RAD)
    elong = lon + 0.033423 * math.sin(g) + 0.000349 * math.sin(2.0 * g)
    elong_dot = l_dot + 0.033423 * math.cos(g) * g_dot + 0.000349 * math.cos(2.0 * g) * 2.0 * g_dot
    radius = 1.00014 - 0.01671 * math.cos(g) - 0.00014 * math.cos(2.0 * g)
    radius_dot = 0.01671 * math.sin(g) * g_dot + 0.00014 * math.sin(2.0 * g) * 2.0 * g_dot
    x_dot = radius_dot * math.cos(elong) - radius * math.sin(elong) * elong_dot
    y_dot = radius_dot * math.cos(eps) * math.sin(elong) + radius * math.cos(eps) * math.cos(elong) * elong_dot
    z_dot = radius_dot * math.sin(eps) * math.sin(elong) + radius * math.sin(eps) * math.cos(elong) * elong_dot
    return (-x_dot * KM_AU / SEC_DAY, -y_dot * KM_AU / SEC_DAY, -z_dot * KM_AU / SEC_DAY)


def precess(mjd: float, target: tuple[float, float, float]) -> tuple[float, float, float]:
    """``Precess``: a J2000 unit vector precessed to the date `mjd`."""
    dt = (mjd - REFDATE) / 36525.0
    dt2 = dt * dt
    dt3 = dt * dt * dt
    zeta = (2306.2181 * dt + 0.30188 * dt2 + 0.017998 * dt3) * ARCSEC_RAD
    z = (2306.2181 * dt + 1.09468 * dt2 + 0.018203 * dt3) * ARCSEC_RAD
    theta = (2004.3109 * dt - 0.42665 * dt2 - 0.041833 * dt3) * ARCSEC_RAD
    cz, sz, ct, st, cze, sze = (
        math.cos(z),
        math.sin(z),
        math.cos(theta),
        math.sin(theta),
        math.cos(zeta),
        math.sin(zeta),
    )
    a = (
        cz * ct * cze - sz * sze,
        -cz * ct * sze - sz * cze,
        -cz * st,
        sz * ct * cze + cz * sze,
        -sz * ct * sze + cz * cze,
        -sz * st,
        st * cze,
        -st * sze,
        ct,
    )
    t0, t1, t2 = target
    return (
        a[0] * t0 + a[1] * t1 + a[2] * t2,
        a[3] * t0 + a[4] * t1 + a[5] * t2,
        a[6] * t0 + a[7] * t1 + a[8] * t2,
    )


def radial_velocity(ra_targ: float, dec_targ: float, mjd: float) -> float:
    """``RadialVel``: the target's heliocentric radial velocity correction (km/s) at `mjd`."""
    ra = ra_targ * DEG_RAD
    dec = dec_targ * DEG_RAD
    target = precess(mjd, (math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)))
    vel = earth_velocity(mjd)
    vel_r = 0.0
    for v, t in zip(vel, target, strict=True):
        vel_r += v * t
    return -vel_r
