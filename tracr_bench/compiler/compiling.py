"""Compile RASP programs with tracr and cache the weights on disk (safetensors + JSON).

`compile_program` returns a `CompiledProgram`: plain numpy float32 weights, the layer
structure, the residual labels and the input/output encodings. Nothing here depends on
torch; `tracr_bench.compiler.torch_program` turns a `CompiledProgram` into a PyTorch module.

Residual labels. tracr-pypi labels every RASP expression `<name>_<unique id>` where the id
is a process-wide counter, so its raw residual labels (`length_17:3`) change with the order
in which programs are built. We rename each SOp to its `name` when that name is unique in
the program (`length:3`, `final_result:yes`), else to `<name>_<k>` with `k` its rank in a
canonical traversal, and we sort the residual dimensions by these canonical labels. The
cache key uses the same canonical description, so a program hashes (and lays out its
residual stream) identically in every process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tracr_bench.models import file_sha256

FORMAT_VERSION = 1
BOS = "BOS"
PAD = "PAD"
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "meta.json"


# --------------------------------------------------------------------------- data model


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One tracr layer: an attention sublayer followed by an MLP sublayer."""

    index: int
    n_heads: int  # heads in the attention sublayer (tracr pads all layers to the max)
    key_size: int  # per-head query/key/value size (tracr uses one size for all layers)
    causal: bool
    mlp_hidden_size: int  # width of the MLP hidden layer (padded to the max)
    active_heads: int  # heads with non-zero weights
    active_mlp_hidden: int  # hidden units with non-zero weights

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CompiledProgram:
    """A tracr-compiled RASP program as plain numpy weights plus metadata."""

    key: str
    weights: dict[str, np.ndarray]
    blocks: list[BlockSpec]
    residual_labels: list[str]
    input_encoding: dict[str, int]
    # Categorical output: position among the output dims (residual order) -> value; it
    # normally equal to tracr's `output_encoder.decoding_map`. None for numerical output.
    output_decoding: dict[int, Any] | None
    output_name: str
    vocab: list[str]
    bos: str
    pad: str
    max_seq_len: int
    causal: bool
    mlp_exactness: int
    n_params: int
    n_heads: int
    key_size: int
    seconds: float
    from_cache: bool
    cache_path: Path | None = None
    # Only set when compiled in this process (not stored in the cache):
    assembled: Any = dataclasses.field(default=None, repr=False, compare=False)
    # tracr_perm[i] = index in tracr's raw residual order of our residual dimension i.
    tracr_perm: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    raw_residual_labels: list[str] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    @property
    def n_layers(self) -> int:
        """Number of attention+MLP blocks."""
        return len(self.blocks)

    @property
    def residual_width(self) -> int:
        return len(self.residual_labels)

    @property
    def mlp_hidden_size(self) -> int:
        return max((b.mlp_hidden_size for b in self.blocks), default=0)

    @property
    def categorical_output(self) -> bool:
        return self.output_decoding is not None

    @property
    def bos_id(self) -> int:
        return self.input_encoding[self.bos]

    @property
    def pad_id(self) -> int:
        return self.input_encoding[self.pad]

    def labels_of(self, name: str) -> list[str]:
        """Residual labels equal to `name` or starting with `name:`."""
        return [lab for lab in self.residual_labels if _label_matches(lab, name)]

    def indices_of(self, name: str) -> list[int]:
        """Residual dimensions whose label is `name` or starts with `name:`."""
        return [i for i, lab in enumerate(self.residual_labels) if _label_matches(lab, name)]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids for `tokens` with BOS prepended; ValueError on unknown or too many."""
        tokens = list(tokens)
        reserved = [t for t in tokens if t in (self.bos, self.pad)]
        if reserved:
            raise ValueError(
                f"reserved tokens {sorted(set(reserved))} in input: BOS is added by encode() "
                "and PAD is only for batching"
            )
        unknown = sorted({t for t in tokens if t not in self.input_encoding}, key=repr)
        if unknown:
            raise ValueError(
                f"unknown tokens {unknown}: not in the program's vocabulary {self.vocab}"
            )
        if len(tokens) > self.max_seq_len:
            raise ValueError(
                f"input has {len(tokens)} tokens, longer than the program's "
                f"max_seq_len {self.max_seq_len}"
            )
        return [self.bos_id] + [self.input_encoding[t] for t in tokens]

    def encode_batch(self, batch: Sequence[Sequence[str]]) -> np.ndarray:
        """int64 array [B, 1 + longest] of encoded sequences, right-padded with PAD."""
        encoded = [self.encode(seq) for seq in batch]
        width = max((len(e) for e in encoded), default=1)
        out = np.full((len(encoded), width), self.pad_id, dtype=np.int64)
        for row, e in enumerate(encoded):
            out[row, : len(e)] = e
        return out

    def summary(self) -> dict[str, Any]:
        """Size figures for tables and JSON."""
        return {
            "key": self.key,
            "n_layers": self.n_layers,
            "residual_width": self.residual_width,
            "mlp_hidden_size": self.mlp_hidden_size,
            "n_heads": self.n_heads,
            "key_size": self.key_size,
            "n_params": self.n_params,
            "max_seq_len": self.max_seq_len,
            "causal": self.causal,
            "seconds": self.seconds,
            "from_cache": self.from_cache,
        }


def _label_matches(label: str, name: str) -> bool:
    return label == name or label.startswith(name + ":")


# --------------------------------------------------------------------------- cache key


def _tracr_version() -> str:
    try:
        return importlib.metadata.version("tracr-pypi")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _value_key(v: Any) -> str:
    """A type-tagged string for a RASP value (1, 1.0, True and '1' all differ)."""
    return f"{type(v).__name__}:{v!r}"


def _sorted_values(values: Any) -> list[Any]:
    return sorted(values, key=_value_key)


def _analyse(program: Any, vocab: set[str], max_seq_len: int) -> tuple[list[dict], dict[str, str]]:
    """Canonical description of the program graph and tracr label -> canonical name.

    Value sets come from tracr's own `rasp_to_graph` + `basis_inference.infer_bases`, so the
    function tables below are exactly the ones the compiler will tabulate.
    """
    from tracr.compiler import basis_inference, nodes, rasp_to_graph
    from tracr.rasp import rasp
    from tracr.utils import errors

    extracted = rasp_to_graph.extract_rasp_graph(program)
    graph = extracted.graph
    basis_inference.infer_bases(graph, extracted.sink, set(vocab), max_seq_len)

    def value_set(expr: Any) -> list[Any]:
        return _sorted_values(graph.nodes[expr.label].get(nodes.VALUE_SET, set()))

    # Canonical order: depth-first pre-order from the output over `children` in order.
    order: list[Any] = []
    index: dict[str, int] = {}
    stack = [program]
    while stack:
        expr = stack.pop()
        if expr.label in index:
            continue
        index[expr.label] = len(order)
        order.append(expr)
        stack.extend(reversed(list(expr.children)))

    desc: list[dict] = []
    for expr in order:
        entry: dict[str, Any] = {
            "type": type(expr).__name__,
            "name": expr.name,
            "children": [index[c.label] for c in expr.children],
        }
        if isinstance(expr, rasp.SOp):
            entry["encoding"] = rasp.get_encoding(expr).value
            entry["values"] = [_value_key(v) for v in value_set(expr)]
        if isinstance(expr, rasp.Map):
            f = errors.ignoring_arithmetic_errors(expr.f)
            entry["table"] = [[_value_key(x), _value_key(f(x))] for x in value_set(expr.inner)]
        elif isinstance(expr, rasp.SequenceMap):
            f = errors.ignoring_arithmetic_errors(expr.f)
            entry["table"] = [
                [_value_key(x), _value_key(y), _value_key(f(x, y))]
                for x, y in itertools.product(value_set(expr.fst), value_set(expr.snd))
            ]
            if isinstance(expr, rasp.LinearSequenceMap):
                entry["factors"] = [_value_key(expr.fst_fac), _value_key(expr.snd_fac)]
        elif isinstance(expr, rasp.Select):
            pred = expr.predicate
            if isinstance(pred, rasp.Comparison):
                entry["predicate"] = pred.name
            table = []
            for k, q in itertools.product(value_set(expr.keys), value_set(expr.queries)):
                try:
                    table.append(bool(pred(k, q)))
                except Exception:  # tracr evaluates the same pairs; record the failure
                    table.append(None)
            entry["table"] = table
        elif isinstance(expr, rasp.Aggregate):
            entry["default"] = _value_key(expr.default)
        elif isinstance(expr, rasp.Full):
            entry["fill"] = _value_key(expr.fill)
        elif isinstance(expr, (rasp.ConstantSOp, rasp.ConstantSelector)):
            entry["value"] = repr(expr.value)
        desc.append(entry)

    # Canonical names for SOps: the name itself when unique, else name_k (k = rank).
    sops = [e for e in order if isinstance(e, rasp.SOp)]
    counts: dict[str, int] = {}
    for e in sops:
        counts[e.name] = counts.get(e.name, 0) + 1
    names: dict[str, str] = {}
    used: set[str] = set()
    seen: dict[str, int] = {}
    for e in sops:
        if counts[e.name] == 1:
            canon = e.name
        else:
            seen[e.name] = seen.get(e.name, 0) + 1
            canon = f"{e.name}_{seen[e.name]}"
        while canon in used:
            canon += "_"
        used.add(canon)
        names[e.label] = canon
    return desc, names


def cache_key(
    program: Any,
    vocab: set[str],
    max_seq_len: int,
    *,
    causal: bool = True,
    mlp_exactness: int = 100,
) -> str:
    """sha256 hex digest identifying a compilation (program tables, vocab, settings)."""
    desc, _ = _analyse(program, vocab, max_seq_len)
    return _key_from_desc(desc, vocab, max_seq_len, causal, mlp_exactness)


def _key_from_desc(
    desc: list[dict], vocab: set[str], max_seq_len: int, causal: bool, mlp_exactness: int
) -> str:
    payload = {
        "format_version": FORMAT_VERSION,
        "tracr_version": _tracr_version(),
        "program": desc,
        "vocab": sorted(vocab),
        "max_seq_len": int(max_seq_len),
        "causal": bool(causal),
        "mlp_exactness": mlp_exactness,
        "bos": BOS,
        "pad": PAD,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def default_cache_dir() -> Path:
    """$TRACR_BENCH_CACHE, else $XDG_CACHE_HOME/tracr-bench, else ~/.cache/tracr-bench."""
    env = os.environ.get("TRACR_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tracr-bench"


# --------------------------------------------------------------------------- compile


def _rename_label(raw: str, names: dict[str, str], by_len: list[str]) -> str:
    """Map one raw tracr residual label (`<dir name>` or `<dir name>:<value>`)."""
    dname, sep, value = raw.partition(":")
    if dname in names:
        new = names[dname]
    else:
        new = dname
        for label in by_len:  # e.g. `<label>_selector_width_attn_output`
            if dname.startswith(label + "_"):
                new = names[label] + dname[len(label) :]
                break
    return new + sep + value


def _label_sort_key(label: str) -> tuple:
    name, sep, value = label.partition(":")
    if not sep:
        return (name, 0, 0.0, "")
    try:
        return (name, 1, float(value), value)
    except ValueError:
        return (name, 2, 0.0, value)


# Residual axis of every weight (None: no residual axis).
def _residual_axis(name: str) -> int | None:
    if name.endswith("embeddings"):
        return 1
    if name.endswith(("attn/query/w", "attn/key/w", "attn/value/w", "mlp/linear_1/w")):
        return 0
    if name.endswith(("attn/linear/w", "mlp/linear_2/w")):
        return 1
    if name.endswith(("attn/linear/b", "mlp/linear_2/b")):
        return 0
    return None


def _from_assembled(
    assembled: Any,
    names: dict[str, str],
    output_label: str,
    *,
    key: str,
    vocab: set[str],
    max_seq_len: int,
    causal: bool,
    mlp_exactness: int,
    seconds: float,
) -> CompiledProgram:
    """Build a CompiledProgram (canonical labels and residual order) from tracr's model."""
    cfg = assembled.model_config
    raw_labels = list(assembled.residual_labels)
    by_len = sorted(names, key=len, reverse=True)
    renamed = [_rename_label(lab, names, by_len) for lab in raw_labels]
    if len(set(renamed)) != len(renamed):  # pragma: no cover - defensive
        raise RuntimeError(f"canonical residual labels are not unique: {renamed}")
    perm = np.array(sorted(range(len(renamed)), key=lambda i: _label_sort_key(renamed[i])))
    residual_labels = [renamed[i] for i in perm]

    weights: dict[str, np.ndarray] = {}
    for module, params in assembled.params.items():
        for pname, arr in params.items():
            full = f"{module}/{pname}"
            a = np.asarray(arr, dtype=np.float32)
            axis = _residual_axis(full)
            if axis is not None:
                a = np.take(a, perm, axis=axis)
            weights[full] = np.ascontiguousarray(a)

    blocks = []
    for i in range(cfg.num_layers):
        q = weights[f"transformer/layer_{i}/attn/query/w"].reshape(-1, cfg.num_heads, cfg.key_size)
        w1 = weights[f"transformer/layer_{i}/mlp/linear_1/w"]
        blocks.append(
            BlockSpec(
                index=i,
                n_heads=cfg.num_heads,
                key_size=cfg.key_size,
                causal=causal,
                mlp_hidden_size=cfg.mlp_hidden_size,
                active_heads=int(np.any(q != 0, axis=(0, 2)).sum()),
                active_mlp_hidden=int(np.any(w1 != 0, axis=0).sum()),
            )
        )

    enc = assembled.input_encoder.encoding_map
    out_enc = assembled.output_encoder
    decoding = None
    if hasattr(out_enc, "encoding_map"):
        # Keyed by position among the output dims in *our* residual order, matched to
        # tracr's values by label, so the argmax over `indices_of(output)` decodes directly.
        out_name = names[output_label]
        by_str = {str(v): v for v in out_enc.encoding_map}
        out_labels = [lab for lab in residual_labels if _label_matches(lab, out_name)]
        decoding = {j: by_str[lab.partition(":")[2]] for j, lab in enumerate(out_labels)}
        if len(decoding) != len(out_enc.encoding_map):  # pragma: no cover - defensive
            raise RuntimeError("output dims do not match tracr's output encoder")

    return CompiledProgram(
        key=key,
        weights=weights,
        blocks=blocks,
        residual_labels=residual_labels,
        input_encoding={str(k): int(v) for k, v in enc.items()},
        output_decoding=decoding,
        output_name=names[output_label],
        vocab=sorted(vocab),
        bos=BOS,
        pad=PAD,
        max_seq_len=int(max_seq_len),
        causal=bool(causal),
        mlp_exactness=mlp_exactness,
        n_params=int(sum(a.size for a in weights.values())),
        n_heads=int(cfg.num_heads),
        key_size=int(cfg.key_size),
        seconds=seconds,
        from_cache=False,
        assembled=assembled,
        tracr_perm=perm,
        raw_residual_labels=raw_labels,
    )


def compile_program(
    program: Any,
    vocab: set[str],
    max_seq_len: int,
    *,
    causal: bool = True,
    mlp_exactness: int = 100,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> CompiledProgram:
    """Compile `program` (a `rasp.SOp`) with tracr, or load it from the on-disk cache.

    BOS/PAD are always "BOS"/"PAD". A cache entry that fails any check (missing or
    unreadable file, weights sha256 or metadata mismatch) is recompiled and overwritten.
    """
    vocab = set(vocab)
    bad = [t for t in vocab if not isinstance(t, str)]
    if bad:
        raise TypeError(f"vocab must contain strings only; got {bad!r}")
    if BOS in vocab or PAD in vocab:
        raise ValueError(f"vocab must not contain the reserved tokens {BOS!r} / {PAD!r}")
    if max_seq_len < 1:
        raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")

    desc, names = _analyse(program, vocab, max_seq_len)
    key = _key_from_desc(desc, vocab, max_seq_len, causal, mlp_exactness)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = root / key

    if use_cache:
        t0 = time.perf_counter()
        loaded = _load_entry(entry, key)
        if loaded is not None:
            loaded.seconds = time.perf_counter() - t0
            return loaded

    from tracr.compiler import compiling

    t0 = time.perf_counter()
    assembled = compiling.compile_rasp_to_model(
        program,
        vocab=vocab,
        max_seq_len=max_seq_len,
        causal=causal,
        compiler_bos=BOS,
        compiler_pad=PAD,
        mlp_exactness=mlp_exactness,
    )
    cp = _from_assembled(
        assembled,
        names,
        program.label,
        key=key,
        vocab=vocab,
        max_seq_len=max_seq_len,
        causal=causal,
        mlp_exactness=mlp_exactness,
        seconds=0.0,
    )
    cp.seconds = time.perf_counter() - t0
    if use_cache:
        _store_entry(root, entry, cp, desc)
        cp.cache_path = entry
    return cp


# --------------------------------------------------------------------------- cache I/O


def _meta_of(cp: CompiledProgram, weights_sha: str, desc: list[dict]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tracr_version": _tracr_version(),
        "key": cp.key,
        "weights_sha256": weights_sha,
        "weights": {k: list(v.shape) for k, v in sorted(cp.weights.items())},
        "blocks": [b.to_dict() for b in cp.blocks],
        "residual_labels": cp.residual_labels,
        "input_encoding": cp.input_encoding,
        "output_decoding": (
            None if cp.output_decoding is None else sorted(cp.output_decoding.items())
        ),
        "output_name": cp.output_name,
        "vocab": cp.vocab,
        "bos": cp.bos,
        "pad": cp.pad,
        "max_seq_len": cp.max_seq_len,
        "causal": cp.causal,
        "mlp_exactness": cp.mlp_exactness,
        "n_params": cp.n_params,
        "n_heads": cp.n_heads,
        "key_size": cp.key_size,
        "compile_seconds": cp.seconds,
        "program": desc,
    }


def _store_entry(root: Path, entry: Path, cp: CompiledProgram, desc: list[dict]) -> None:
    from safetensors.numpy import save_file

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{cp.key[:12]}-", dir=root))
    try:
        wpath = tmp / WEIGHTS_FILE
        save_file(cp.weights, str(wpath))
        meta = _meta_of(cp, file_sha256(wpath), desc)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=_json_default))
        if entry.exists():  # corrupt or stale: move it aside, then swap in
            trash = Path(tempfile.mkdtemp(prefix=f".old-{cp.key[:12]}-", dir=root))
            os.replace(entry, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:  # another process stored the same entry meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {o!r}")


def _load_entry(entry: Path, key: str) -> CompiledProgram | None:
    """The cached program, or None when the entry is missing or fails any check."""
    wpath, mpath = entry / WEIGHTS_FILE, entry / META_FILE
    if not (wpath.is_file() and mpath.is_file()):
        return None
    try:
        from safetensors.numpy import load_file

        meta = json.loads(mpath.read_text())
        if (
            meta.get("format_version") != FORMAT_VERSION
            or meta.get("key") != key
            or meta.get("tracr_version") != _tracr_version()
            or meta.get("weights_sha256") != file_sha256(wpath)
        ):
            return None
        weights = load_file(str(wpath))
        shapes = {k: list(v.shape) for k, v in weights.items()}
        if shapes != meta["weights"]:
            return None
        if any(v.dtype != np.float32 for v in weights.values()):
            return None
        labels = list(meta["residual_labels"])
        if weights["token_embed/embeddings"].shape[1] != len(labels):
            return None
        blocks = [BlockSpec(**b) for b in meta["blocks"]]
        decoding = meta["output_decoding"]
        cp = CompiledProgram(
            key=key,
            weights=weights,
            blocks=blocks,
            residual_labels=labels,
            input_encoding={str(k): int(v) for k, v in meta["input_encoding"].items()},
            output_decoding=None if decoding is None else {int(i): v for i, v in decoding},
            output_name=meta["output_name"],
            vocab=list(meta["vocab"]),
            bos=meta["bos"],
            pad=meta["pad"],
            max_seq_len=int(meta["max_seq_len"]),
            causal=bool(meta["causal"]),
            mlp_exactness=meta["mlp_exactness"],
            n_params=int(meta["n_params"]),
            n_heads=int(meta["n_heads"]),
            key_size=int(meta["key_size"]),
            seconds=0.0,
            from_cache=True,
            cache_path=entry,
        )
        if cp.n_params != sum(a.size for a in weights.values()):
            return None
        return cp
    except Exception:  # unreadable safetensors / JSON / missing fields: never trusted
        return None
