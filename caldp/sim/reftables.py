"""Reference tables shared by the instruments: IMPHTTAB, MDRIZTAB, CRREJTAB layouts.

>>> hdus = imphttab_hdus({"acs,wfc1,f606w,mjd#": (1.5e-19, 5920.0, 672.0)}, ("PHOTFLAM", "PHOTPLAM", "PHOTBW"))
>>> [h.name for h in hdus], hdus[1].data["DATACOL"][0]
(['PHOTFLAM', 'PHOTPLAM', 'PHOTBW'], 'PHOTPLAM1')
"""

from __future__ import annotations

import numpy as np

from .fitsutil import table

#: MJD grid of the time-dependent photometry (IMPHTTAB PAR1VALUES).
PHOT_MJD = np.array([52000.0, 56000.0, 60000.0, 64000.0])


def imphttab_hdus(rows: dict[str, tuple[float, ...]], extnames: tuple[str, ...], *, drift: float = -2e-3):
    """One BINTABLE per extname; each obsmode row interpolates its value linearly in ``mjd#``.

    `rows`: obsmode (with ``mjd#``) → one value per extension; the value at MJD 60000 is the given
    one, changing by `drift` (fraction) per 4000 days.
    """
    modes = list(rows)
    width = max(len(m) for m in modes) + 4
    hdus = []
    for k, name in enumerate(extnames):
        base = np.array([rows[m][k] for m in modes])
        curve = base[:, None] * (1.0 + drift * (PHOT_MJD[None, :] - 60000.0) / 4000.0)
        hdu = table(
            {
                "OBSMODE": (f"{width}A", modes),
                "DATACOL": ("12A", [name + "1"] * len(modes)),
                name: ("D", base),
                "NELEM1": ("J", [PHOT_MJD.size] * len(modes)),
                "PAR1NAMES": ("8A", ["mjd#"] * len(modes)),
                "PAR1VALUES": (f"{PHOT_MJD.size}D", np.repeat(PHOT_MJD[None, :], len(modes), axis=0)),
                name + "1": (f"{PHOT_MJD.size}D", curve),
            },
            {"EXTNAME": name},
        )
        hdus.append(hdu)
    return hdus


def crrejtab_hdu(*, ir: bool = False):
    """CRREJTAB rows for CR-SPLIT 2 (short and long MEANEXP) and, for IR, the ramp-fit row."""
    n = 3 if ir else 2
    cols = {
        "CRSPLIT": ("J", [2, 2, 2][:n]),
        "MEANEXP": ("E", [200.0, 3000.0, 3000.0][:n]),
        "SCALENSE": ("E", [30.0, 30.0, 0.0][:n]),
        "INITGUES": ("8A", ["minimum", "minimum", "minimum"][:n]),
        "SKYSUB": ("8A", ["mode", "mode", "none"][:n]),
        "CRSIGMAS": ("16A", ["6.5,5.5,4.5", "6.5,5.5,4.5", "4.0"][:n]),
        "CRRADIUS": ("E", [2.1, 2.1, 0.0][:n]),
        "CRTHRESH": ("E", [0.5555, 0.5555, 0.0][:n]),
        "BADINPDQ": ("I", [39, 39, 39][:n]),
        "CRMASK": ("J", [1, 1, 0][:n]),
    }
    if ir:
        cols["IRRAMP"] = ("L", [False, False, True])
    return table(cols)


def mdriztab_hdu(*, pixfrac: float = 1.0):
    """MDRIZTAB rows (filter ANY) for 1 and ≥ 2 images, with AstroDrizzle parameter names."""
    rows = {
        "filter": ("24A", ["ANY", "ANY"]),
        "numimages": ("J", [1, 2]),
        "build": ("L", [True, True]),
        "shiftfile": ("24A", ["", ""]),
        "staticfile": ("24A", ["", ""]),
        "static": ("L", [True, True]),
        "skysub": ("L", [True, True]),
        "skymethod": ("24A", ["localmin", "localmin"]),
        "driz_separate": ("L", [False, True]),
        "median": ("L", [False, True]),
        "blot": ("L", [False, True]),
        "driz_cr": ("L", [False, True]),
        "driz_sep_bits": ("24A", ["16", "16"]),
        "final_bits": ("24A", ["16", "16"]),
        "final_pixfrac": ("E", [pixfrac, pixfrac]),
        "final_kernel": ("24A", ["square", "square"]),
        "final_wht_type": ("24A", ["EXP", "EXP"]),
        "combine_type": ("24A", ["minmed", "minmed"]),
    }
    return table(rows)
