"""A literal, pixel-by-pixel transcription of calib-wfc3.md §R6 (rows in order, images in order,
candidates in increasing x, scrolling spill-threshold plane) used to check the vectorised
:func:`caldp.engines.wfc3.uvis.wf3rej.reject` on tiny arrays. Slow; test use only.
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def reject_reference(
    images, dqs, raws, *, ave, var, efac, sky, gain, nse, ampx, sigmas, radius, thresh, scalense, badinpdq
):
    nimg = len(images)
    ny, nx = images[0].shape
    width = int(math.ceil(float(F32(radius))))
    rej2 = F32(F32(radius) * F32(radius))
    psig2 = F32(F32(thresh) * F32(thresh)) if thresh > 0 else F32(-1)
    scale = F32(float(F32(scalense)) / 100.0)
    ave = ave.astype(F32).copy()
    avevar = var.astype(F32).copy()
    pic = [((images[n] - F32(sky[n])) / F32(efac[n])).astype(F32) for n in range(nimg)]
    dqout = np.full((ny, nx), 8192, np.int64)
    dq2 = np.zeros((ny, nx), np.int64)
    crbits = [np.zeros((ny, nx), bool) for _ in range(nimg)]
    nrej = 0
    for it, sig in enumerate(sigmas):
        last = it == len(sigmas) - 1
        sig2 = F32(F32(sig) * F32(sig))
        mask = [dqs[n].astype(np.int64).copy() for n in range(nimg)]
        spth = []
        for n in range(nimg):
            p = pic[n].copy()
            p[: width + 1] = raws[n][: width + 1]
            spth.append(p)
        efs = np.zeros((ny, nx), F32)
        if last:
            nrej = 0
        for line in range(ny):
            total = np.zeros(nx, F32)
            sumvar = np.zeros(nx, F32)
            for n in range(nimg):
                e = F32(efac[n])
                e2 = F32(e * e)
                snap = mask[n][line].copy()
                th = np.zeros(nx, F32)
                for i in range(nx):
                    g, ns = (F32(gain[0]), F32(nse[0])) if i < ampx else (F32(gain[1]), F32(nse[1]))
                    if it == 0:
                        th[i] = F32(sig2 * avevar[line, i])
                        spth[n][line, i] = th[i]
                    else:
                        dum = F32(F32(F32(ave[line, i] * e) / F32(1)) + F32(sky[n]))
                        val = dum if dum > 0 else F32(0)
                        ps = F32(dum - F32(sky[n]))
                        ps = ps if ps > 0 else F32(0)
                        base = F32(ns + F32(val / g))
                        t = F32(scale * ps)
                        th[i] = F32(F32(sig2 * F32(base + F32(t * t))) / e2)
                        spth[n][line, i] = F32(F32(sig2 * base) / e2)
                for i in range(nx):
                    if (snap[i] & badinpdq) != 0 and snap[i] != 2:
                        mask[n][line, i] = 4
                for i in range(nx):
                    d = F32(pic[n][line, i] - ave[line, i])
                    if F32(d * d) > th[i] and mask[n][line, i] != 4:
                        mask[n][line, i] = 8
                        if width == 0:
                            continue
                        for jj in range(line - width, line + width + 1):
                            if jj < 0 or jj >= ny:
                                continue
                            for ii in range(i - width, i + width + 1):
                                if F32((ii - i) ** 2 + (jj - line) ** 2) > rej2:
                                    continue
                                if ii < 0 or ii >= nx:
                                    continue
                                dd = F32(pic[n][jj, ii] - ave[jj, ii])
                                if F32(dd * dd) <= F32(psig2 * spth[n][jj, ii]):
                                    continue
                                if mask[n][jj, ii] != 8:
                                    mask[n][jj, ii] = 2
                for i in range(nx):
                    if (mask[n][line, i] & 14) == 0:
                        total[i] = F32(total[i] + F32(pic[n][line, i] * e))
                        efs[line, i] = F32(efs[line, i] + e)
                if last:
                    for i in range(nx):
                        g, ns = (F32(gain[0]), F32(nse[0])) if i < ampx else (F32(gain[1]), F32(nse[1]))
                        if (mask[n][line, i] & 14) == 0:
                            dum = F32(F32(pic[n][line, i] * e) + F32(sky[n]))
                            val = dum if dum > 0 else F32(0)
                            sumvar[i] = F32(sumvar[i] + F32(ns + F32(val / g)))
                    for i in range(nx):
                        b = (int(snap[i]) | int(dq2[line, i])) & ~8192 & ~2 & 0xFFFF
                        s = b | int(dqout[line, i])
                        if mask[n][line, i] in (8, 2):
                            b |= 8192
                            nrej += 1
                        else:
                            s &= ~8192
                        dq2[line, i] = b
                        dqout[line, i] = s & 0xFFFF
                        crbits[n][line, i] = bool(b & 8192)
            for i in range(nx):
                if efs[line, i] > 0:
                    ave[line, i] = F32(F32(total[i] / efs[line, i]) / F32(1))
                    if last:
                        avevar[line, i] = F32(math.sqrt(float(sumvar[i])) / float(efs[line, i]))
                elif last:
                    ave[line, i] = 0
                    avevar[line, i] = 0
    return ave, avevar, dqout.astype(np.uint16), crbits, nrej
