"""Stage 5, the leaderboard: results files in, ranked tables out.

In: a results JSON of ``tracr-bench eval`` (and the model folder's ``injection.json`` where
there is one).
Out: a checked submission file under ``leaderboard/submissions/`` (schema, task versions, seeds,
hashes, no duplicates; never overwritten) and the tables rendered from all of them:
``leaderboard/README.md``, ``leaderboard/index.html`` and the main table in the project README.
"""
