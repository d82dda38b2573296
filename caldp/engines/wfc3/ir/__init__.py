"""WFC3/IR engine: WF3IR (HSTCAL ``pkg/wfc3/lib/wf3ir``), one module per calibration step.

Arrays are whole MULTIACCUM stacks ``(NSAMP, ny, nx)`` in file order: index 0 is EXTVER 1
(the last read), index NSAMP−1 the zeroth read. ``area`` is the science (non-reference) section.
"""
