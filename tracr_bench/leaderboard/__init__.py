"""Stage 5, the leaderboard: results files in, ranked tables out.

In: a results JSON of ``tracr-bench eval`` (and the model folder's ``injection.json`` where
there is one).
Out: a checked submission file under ``leaderboard/submissions/`` (schema, task versions, seeds,
hashes, no duplicates; never overwritten) and the tables rendered from all of them:
``leaderboard/README.md``, ``leaderboard/index.html`` and the main table in the project README.

The modules, in the order the data flows: ``schema`` (the submission format, its versions and
digests), ``checks`` (``validate``), ``entries`` (the submission files), ``submit`` (a results
file to a new submission file); ``board`` (rows and cells), ``tables`` (columns and best
values), ``markdown_page`` and ``html_page`` (the two renderings), ``outputs`` (the rendered
files); ``cli`` (``tracr-bench submit`` and ``tracr-bench leaderboard``).
"""
