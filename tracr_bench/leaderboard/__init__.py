"""Stage 5, the leaderboard: results files in, ranked tables out.

In: a results JSON of ``tracr-bench eval`` (and the model folder's ``injection.json`` where
there is one); optionally the model's ``tracr-bench decode`` JSON and ``tracr-bench search
--json`` output on its trained task.
Out: a checked submission file under ``leaderboard/submissions/`` of an existing leaderboard
folder (schema, task versions, seeds, hashes, numbers that agree with each other, no duplicates;
never overwritten) and the tables rendered from all of them: ``leaderboard/README.md``,
``leaderboard/index.html`` (with a chart per task) and the main table in the project README.

The modules, in the order the data flows: ``schema`` (the submission format, its versions and
digests), ``figures`` (the numbers: finite, copies equal, derived figures recomputed),
``sources`` (reading a decode JSON and a search JSON), ``measurements`` (their entries in a
version-2 submission), ``checks`` (``validate``), ``entries`` (the leaderboard folder and its
submission files), ``submit`` (a results file to a new submission file); ``board`` (rows and
cells), ``tables`` (columns and best values), ``chart`` (a task's bar chart, SVG),
``markdown_page`` and ``html_page`` (the two renderings), ``outputs`` (the rendered files);
``cli`` (``tracr-bench submit`` and ``tracr-bench leaderboard``).
"""
