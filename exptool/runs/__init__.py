"""Many runs: summaries, the index behind fast listing, the query language, lifecycle, comparisons.

Modules (each imported on its own; this package imports nothing at start-up):

- ``summary``: ``<run>/summary.json``, written by the Logger, read (or rebuilt) by listings.
- ``index``: one row of facts per run (record, flat config, metric summary), cached per experiment.
- ``query``: the ``--where`` / ``--sort`` expression language of ``exp ls`` and ``exp compare``.
- ``table``: rows and columns rendered to fit a terminal, or as CSV, Markdown, JSON.
- ``compare``: ``exp compare`` and ``exp diff`` as data.
- ``lifecycle``: tags, notes, trash, restore, move.
- ``source_diff``: how the recorded source of two runs differs (git commit + ``git.patch``).
- ``refs``: ``RUN`` / ``EXP/RUN`` arguments.
"""
