"""Sweeps: many runs of one trainer over a grid, random draws or an Optuna search.

- :mod:`.spec`: what varies (``--set lr=1e-3,1e-2``, ``dropout=uniform(0,0.5)``, a sweep file).
- :mod:`.record`: the sweep's record in the experiment (spec, point -> run, state).
- :mod:`.planning`: deciding what each point needs, building and checking every point's config.
- :mod:`.scheduler`: running the pending points through a launcher, recording the outcomes.
- :mod:`.guided`: the Optuna study (a journal file in the sweep's folder) of a ``tpe`` sweep.
- :mod:`.results`: points as rows, sorted by the sweep's metric.
- :mod:`.snapshot`: what a sweep's files say now (``exp watch --sweep``): point states and progress,
  counts, the best point.
- :mod:`.cancel`: stopping runs and sweeps, locally or through SLURM.
"""
