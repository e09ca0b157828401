"""The two files a submission's schema-2 measurements are read from, each read by one function
whose docstring lists the fields it reads (the rest of a file is ignored):

- :func:`mechanism_from_decode`: a ``tracr-bench decode`` JSON (``tracr_bench.decode.report``,
  format ``tracr-bench-decode/1``) -> the decoding accuracy and the interchange-intervention
  accuracy of the program's output variable at the aligned layer L, and the positions the
  decoding was scored on (all, or the answer positions only);
- :func:`frontier_from_search`: a ``tracr-bench search --json`` output
  (``tracr_bench.evaluate.search.SearchResult.to_dict``) -> its length frontier, after checking
  that its counts add up and its frontier is what the search defines.

:func:`read_source` reads either file and records its name and sha256. Every problem is a
one-line :class:`SubmissionError` that names the option (``--mechanism``, ``--search``) and the
field.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from tracr_bench.leaderboard.schema import SubmissionError

DECODE_FORMAT = "tracr-bench-decode/1"  # the decode JSON versions this reads
DECODE_SPLIT = "test"  # the split the mechanism columns compare (in distribution)
READOUTS = ("adapter", "probe")  # the first one the file has is taken
POSITIONS = ("all", "answer")  # the decode run's --positions values a mechanism entry may record


# ---------------------------------------------------------------------------- reading helpers


def read_source(path: str | Path, option: str) -> tuple[dict, dict]:
    """The JSON object in ``path`` and its ``source`` record (file name, sha256 of the bytes)."""
    src = Path(path)
    if not src.is_file():
        raise SubmissionError(f"{option}: {str(src)!r} does not exist")
    raw = src.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as err:
        raise SubmissionError(f"{option}: {src}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{option}: {src}: not a JSON object")
    return data, {"file": src.name, "sha256": hashlib.sha256(raw).hexdigest()}


def _get(data: object, path: tuple, what: str) -> object:
    """``data[path[0]][path[1]]...``, or a one-line error naming the missing field."""
    value = data
    for i, key in enumerate(path):
        if not isinstance(value, dict) or key not in value:
            name = ".".join(str(k) for k in path[: i + 1])
            raise SubmissionError(f"{what}: no field {name}")
        value = value[key]
    return value


def _int(value: object, name: str, what: str, least: int | None = 0) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or (least is not None and value < least)
    ):
        bound = "" if least is None else f" >= {least}"
        raise SubmissionError(f"{what}: {name} must be an integer{bound}, got {value!r}")
    return value


def _fraction(value: object, name: str, what: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= 1:  # type: ignore[arg-type]
        raise SubmissionError(f"{what}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _pair(value: object, name: str, what: str) -> list[int]:
    if not isinstance(value, list) or len(value) != 2:
        raise SubmissionError(f"{what}: {name} must be [shortest, longest], got {value!r}")
    lo, hi = (_int(v, name, what) for v in value)
    if lo > hi:
        raise SubmissionError(f"{what}: {name} {value} runs backwards")
    return [lo, hi]


# ---------------------------------------------------------------------------- decode.json


def mechanism_from_decode(data: dict) -> dict:
    """The mechanism figures of one ``tracr-bench decode`` JSON (format ``tracr-bench-decode/1``).

    Fields read (L is ``program.layers``, OUT is ``program.output``, R the readout, S the split):

    - ``format``: ``"tracr-bench-decode/1"``;
    - ``task.name``, ``task.version``: the task whose program was decoded;
    - ``model.weights_sha256``: file name -> sha256 of the decoded model's weights;
    - ``program.layers`` (L, the program's layers) and ``program.output`` (the output
      variable's name); ``program.aligned_hidden_states`` (optional: the LM hidden state of each
      program layer 0..L; without it hidden state i is program layer i): the cells read are
      those of the hidden state H aligned with program layer L, its last entry, else L;
    - ``options.positions`` (optional, absent in older files: ``all``): the positions the run
      scored and fitted its probes on (``decode --positions``), one of :data:`POSITIONS`;
    - ``decoding[R][S][OUT][str(H)]``: ``{"accuracy": 0..1, "positions": n >= 1}``, for probes
      also ``"control_accuracy": 0..1 | null`` (the shuffled-label control);
    - ``interventions[R][S]["iia"][OUT][str(H)]``: ``{"iia": 0..1 | null, "pairs": n}``, n >= 1
      where ``iia`` is a number (optional: no such cell, or a null ``iia``, gives no IIA).

    R is ``adapter`` where ``decoding`` has it, else ``probe``; S is ``test``. Returns ``task``,
    ``task_version``, ``weights_sha256``, ``format`` and the entry's ``variable``, ``layer``,
    ``positions`` (``all`` or ``answer``: what the decoding accuracy counts, and where a probe,
    whose subspace the IIA swaps, was fitted), ``decoding`` and ``iia`` (each ``{"accuracy",
    "readout", "split", "n"}``, a probe's decoding also ``control_accuracy``; ``iia`` may be
    None)."""
    what = "--mechanism"
    fmt = data.get("format")
    if fmt != DECODE_FORMAT:
        raise SubmissionError(
            f"{what}: format {fmt!r} is not a decode JSON this tracr-bench reads ({DECODE_FORMAT})"
        )
    task = _get(data, ("task", "name"), what)
    version = _int(_get(data, ("task", "version"), what), "task.version", what, 1)
    weights = _get(data, ("model", "weights_sha256"), what)
    if not isinstance(weights, dict) or not weights:
        raise SubmissionError(f"{what}: model.weights_sha256 records no weights files")
    layer = _int(_get(data, ("program", "layers"), what), "program.layers", what, 1)
    aligned = (data.get("program") or {}).get("aligned_hidden_states")
    if aligned is not None:
        if not isinstance(aligned, list) or len(aligned) != layer + 1:
            raise SubmissionError(
                f"{what}: program.aligned_hidden_states must list {layer + 1} hidden states"
            )
        layer = _int(aligned[-1], "program.aligned_hidden_states", what, 0)
    positions = _positions(data, what)
    output = _get(data, ("program", "output"), what)
    if not isinstance(task, str) or not isinstance(output, str) or not output:
        raise SubmissionError(f"{what}: task.name and program.output must be names")
    decoding = _get(data, ("decoding",), what)
    readout = next((r for r in READOUTS if isinstance(decoding, dict) and r in decoding), None)
    if readout is None:
        raise SubmissionError(f"{what}: decoding has no {' or '.join(READOUTS)} readout")
    dec = _decoding_cell(data, readout, output, layer)
    iia = _iia_cell(data, readout, output, layer)
    return {
        "task": task,
        "task_version": version,
        "weights_sha256": weights,
        "format": fmt,
        "variable": output,
        "layer": layer,
        "positions": positions,
        "decoding": dec,
        "iia": iia,
    }


def _positions(data: dict, what: str) -> str:
    """``options.positions`` of a decode JSON (absent: ``all``, as files before the option)."""
    options = data.get("options")
    positions = options.get("positions", "all") if isinstance(options, dict) else "all"
    if positions not in POSITIONS:
        raise SubmissionError(
            f"{what}: options.positions is {positions!r}, not one of {', '.join(POSITIONS)}; "
            "decode again with --positions all or --positions answer"
        )
    return positions


def _decoding_cell(data: dict, readout: str, output: object, layer: int) -> dict:
    """``decoding[readout][test][output][str(layer)]`` as a measure of the entry."""
    what = "--mechanism"
    cell = _get(data, ("decoding", readout, DECODE_SPLIT, output, str(layer)), what)
    if not isinstance(cell, dict):
        raise SubmissionError(
            f"{what}: no {readout} decoding of {output} at layer {layer} on {DECODE_SPLIT}"
        )
    name = f"decoding.{readout}.{DECODE_SPLIT}.{output}.{layer}"
    measure = {
        "accuracy": _fraction(cell.get("accuracy"), f"{name}.accuracy", what),
        "readout": readout,
        "split": DECODE_SPLIT,
        "n": _int(cell.get("positions"), f"{name}.positions", what, 1),
    }
    if readout == "probe":  # a probe's accuracy means little without its control's
        control = cell.get("control_accuracy")
        measure["control_accuracy"] = (
            None if control is None else _fraction(control, f"{name}.control_accuracy", what)
        )
    return measure


def _iia_cell(data: dict, readout: str, output: object, layer: int) -> dict | None:
    """``interventions[readout][test]["iia"][output][str(layer)]`` as a measure of the entry;
    None where the file has no such cell, or no IIA in it."""
    what = "--mechanism"
    block = data.get("interventions")
    for key in (readout, DECODE_SPLIT, "iia", output, str(layer)):
        block = block.get(key) if isinstance(block, dict) else None
    if not isinstance(block, dict) or block.get("iia") is None:
        return None
    name = f"interventions.{readout}.{DECODE_SPLIT}.iia.{output}.{layer}"
    return {
        "accuracy": _fraction(block["iia"], f"{name}.iia", what),
        "readout": readout,
        "split": DECODE_SPLIT,
        "n": _int(block.get("pairs"), f"{name}.pairs", what, 1),
    }


# ---------------------------------------------------------------------------- search.json


def frontier_from_search(data: dict) -> dict:
    """The length frontier of one ``tracr-bench search --json`` output
    (``evaluate.search.SearchResult.to_dict``), checked against itself.

    Fields read: ``task``, ``domain``, ``train_lengths`` and ``lengths`` ([shortest, longest]),
    ``max_examples``, ``seed``, ``tried``, ``failures``, ``failure_rate``, ``frontier`` (int or
    null), ``shortest_failing_length``, ``per_length`` (length -> [tried, failed]),
    ``minimal_failure`` (its ``length``) and, where present, ``model.weights_sha256``.

    The counts must add up (``tried`` and ``failures`` are the sums of ``per_length``, the
    failure rate their ratio), every length lie in ``lengths``, and the frontier be what the
    search defines: the shortest failing length minus one, else the longest length tried."""
    what = "--search"
    entry = {
        "task": _get(data, ("task",), what),
        "domain": _get(data, ("domain",), what),
        "lengths": _pair(_get(data, ("lengths",), what), "lengths", what),
        "train_lengths": _pair(_get(data, ("train_lengths",), what), "train_lengths", what),
        "max_examples": _int(_get(data, ("max_examples",), what), "max_examples", what, 1),
        "seed": _int(_get(data, ("seed",), what), "seed", what, None),
        "tried": _int(_get(data, ("tried",), what), "tried", what),
        "failures": _int(_get(data, ("failures",), what), "failures", what),
    }
    frontier = _get(data, ("frontier",), what)
    entry["frontier"] = None if frontier is None else _int(frontier, "frontier", what)
    model = data.get("model")
    weights = model.get("weights_sha256") if isinstance(model, dict) else None
    entry["weights_sha256"] = weights if isinstance(weights, dict) and weights else None
    _check_search_counts(data, entry, what)
    return entry


def _check_search_counts(data: dict, entry: dict, what: str) -> None:
    """``tried``, ``failures`` and ``failure_rate`` against ``per_length``; then the frontier."""
    per_length = _get(data, ("per_length",), what)
    if not isinstance(per_length, dict):
        raise SubmissionError(f"{what}: per_length must map a length to [tried, failed]")
    tried, failed, failing = _per_length_totals(per_length, entry["lengths"], what)
    if (tried, failed) != (entry["tried"], entry["failures"]):
        raise SubmissionError(
            f"{what}: tried = {entry['tried']} and failures = {entry['failures']}, but per_length "
            f"adds up to {tried} and {failed} (inconsistent figure: tried/failures)"
        )
    rate = data.get("failure_rate")
    if not isinstance(rate, (int, float)) or not math.isclose(rate, failed / max(1, tried)):
        raise SubmissionError(
            f"{what}: failure_rate {rate!r} is not failures / tried (inconsistent figure: "
            "failure_rate)"
        )
    longest = max((int(k) for k in per_length), default=None)
    _check_frontier(data, entry, failing, longest, what)


def _per_length_totals(
    per_length: dict, lengths: list[int], what: str
) -> tuple[int, int, list[int]]:
    """(inputs tried, inputs failed, the lengths with a failure), every length in ``lengths``."""
    lo, hi = lengths
    tried = failed = 0
    failing: list[int] = []
    for key, counts in per_length.items():
        if not str(key).isdigit() or not lo <= int(key) <= hi:
            raise SubmissionError(f"{what}: per_length has length {key!r} outside {lo}-{hi}")
        if not isinstance(counts, list) or len(counts) != 2:
            raise SubmissionError(f"{what}: per_length.{key} must be [tried, failed]")
        t, f = (_int(c, f"per_length.{key}", what) for c in counts)
        if f > t or t < 1:
            raise SubmissionError(f"{what}: per_length.{key} = {counts}: [tried, failed]")
        tried, failed = tried + t, failed + f
        failing += [int(key)] if f else []
    return tried, failed, sorted(failing)


def _check_frontier(
    data: dict, entry: dict, failing: list[int], longest: int | None, what: str
) -> None:
    """The frontier is the shortest failing length (found while shrinking: no longer than any
    failing length tried, nor than the minimal failure) minus one; without failures, the
    longest length tried."""
    lo, hi = entry["lengths"]
    shortest = data.get("shortest_failing_length")
    if failing:
        minimal = data.get("minimal_failure")
        if not isinstance(minimal, dict) or minimal.get("length") not in range(lo, hi + 1):
            raise SubmissionError(f"{what}: failures were found but minimal_failure has no length")
        ok = isinstance(shortest, int) and lo <= shortest <= min(failing[0], minimal["length"])
        expected = shortest - 1 if ok else None
    else:
        ok, expected = shortest is None, longest
    if not ok or entry["frontier"] != expected:
        raise SubmissionError(
            f"{what}: frontier {entry['frontier']} is not what the search found (shortest failing "
            f"length {shortest}, failing lengths {failing[:5]}, longest tried {longest}) "
            "(inconsistent figure: frontier)"
        )
