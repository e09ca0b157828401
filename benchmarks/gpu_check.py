"""The GPU check (issue 13, part 3), run by ``benchmarks/gpu_check.sh``: one JSON of measured
figures on one CUDA device, in under 8 minutes, with nothing downloaded.

    benchmarks/gpu_check.sh [--output gpu_check.json] [--budget-s 450]
    benchmarks/gpu_check.sh --device cpu --tiny     # the same code paths, tiny, on the CPU

Models: the default LM (cast to bf16) and a GPT-2-small-sized model built at random from its
config (12 blocks, width 768, 12 heads, 1,024 positions, vocabulary 50,257: 124M parameters)
with the default LM's tokenizer. Sections, in order, each skipped with a note when the budget
left is too small:

1. ``inject``: injector steps/s and tokens/s of tracr and baseline (``bench_inject_step``'s
   ``time_methods``: the training step, interleaved, bf16 autocast), and their ratio (goal
   <= 1.3), for both models;
2. ``eval``: ``tracr-bench eval``'s fast engine (``evaluate()``, the whole call) against one
   ``model.generate`` per example (the paper's loop) on the same 1,000 prompts (the first 250 of
   the ``test`` split of shuffle_dyck, count, int_sum and parity), bf16 weights (goal >= 10x);
3. ``decode``: a short injection of the default LM (parity), then ``tracr-bench decode`` on it,
   timed.

``--tiny`` swaps in a 3-block, 32-wide GPT-2 (also for the decode section), parity, small
batches, one thread, a few steps and a few prompts (a test runs it on the CPU). Without a CUDA
device (and without ``--device cpu``) it stops at once, in one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FULL = dict(task="shuffle_dyck", steps=20, warmup=3, per_split=250, inject_steps=50, options={})
TINY = dict(
    task="parity",
    steps=2,
    warmup=1,
    per_split=3,
    inject_steps=2,
    options=dict(batch_size=4, kl_batch_size=2, kl_seq_len=32),
)
EVAL_TASKS = ("shuffle_dyck", "count", "int_sum", "parity")
SECTION_NEEDS_S = {"inject": 60, "eval": 90, "decode": 60}  # skipped below this budget left


def fail(message: str) -> None:
    print(f"gpu_check: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def check_device(device: str, tiny: bool) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        fail(
            f"no CUDA device (torch {torch.__version__} sees none); this check needs one GPU "
            "(--device cpu --tiny runs its code paths on the CPU)"
        )
    if device == "cpu" and not tiny:
        fail("--device cpu needs --tiny (the full check is sized for one GPU)")


def build_models(folder: Path, tiny: bool) -> dict[str, dict[str, Any]]:
    """The default LM in bf16 and the GPT-2-small-sized random model, saved under ``folder``."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from tracr_bench.models import DEFAULT_MODEL_DIR, load_model

    tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL_DIR)
    size = dict(n_layer=3, n_embd=32, n_head=2, n_positions=128) if tiny else {}
    cfg = GPT2Config(
        **{"n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024, **size},
        vocab_size=len(tok) if tiny else 50257,
        activation_function="gelu_pytorch_tanh",
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    models = {"default_lm": load_model(DEFAULT_MODEL_DIR, dtype=torch.float32)[0]}
    models["gpt2_small"] = GPT2LMHeadModel(cfg)
    info = {}
    for name, lm in models.items():
        path = folder / name
        lm.to(torch.bfloat16).save_pretrained(path)
        tok.save_pretrained(path)
        blocks, width = lm.config.n_layer, lm.config.n_embd
        params = sum(p.numel() for p in lm.parameters())
        info[name] = {"path": path, "params": params, "blocks": blocks, "width": width}
    if tiny:
        info["gpt2_small"]["note"] = "--tiny: a 3 x 32 GPT-2 stands in for GPT-2 small"
    return info


def inject_section(models: dict, device: str, sizes: dict) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_inject_step import time_methods

    out = {}
    for name, info in models.items():
        out[name] = time_methods(
            Path(info["path"]),
            sizes["task"],
            sizes["steps"],
            sizes["warmup"],
            device,
            precision="bf16",
            **sizes["options"],
        )
        out[name]["goal_ratio_at_most_1.3"] = out[name]["ratio_tracr_over_baseline"] <= 1.3
    return out


def generate_per_example(path: Path, device: str, examples: list) -> tuple[float, float]:
    """The paper's loop: one ``generate`` per example, batch 1, room for the gold answer."""
    import torch

    from tracr_bench.models import load_model

    lm, tok = load_model(path, device=device)
    lm.eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    correct = 0
    _sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        for ex in examples:
            ids = tok(ex.prompt, return_tensors="pt").input_ids.to(device)
            gold = tok.encode(ex.target, add_special_tokens=False)
            out = lm.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=len(gold),
                do_sample=False,
                pad_token_id=pad,
            )
            correct += out[0, ids.shape[1] :].tolist() == gold
    _sync(device)
    return time.perf_counter() - t0, correct / len(examples)


def eval_section(info: dict, device: str, sizes: dict) -> dict[str, Any]:
    from tracr_bench.evaluate.lm_eval_data import split_examples
    from tracr_bench.evaluate.run import evaluate
    from tracr_bench.task import get_task

    tasks = EVAL_TASKS[:2] if sizes is TINY else EVAL_TASKS
    n = sizes["per_split"]
    examples = [ex for t in tasks for ex in split_examples(get_task(t), "test")[:n]]
    path = Path(info["path"])
    batch = 64
    t0 = time.perf_counter()
    data = evaluate(
        path,
        tasks=list(tasks),
        splits="test",
        limit=n,
        batch_size=batch,
        device=device,
        oracle=False,
        retention=False,
        progress=False,
        engine="fast",
    )
    fast_s = time.perf_counter() - t0
    reference_s, reference_acc = generate_per_example(path, device, examples)
    rows = data["tracr_bench"]["splits"]
    return {
        "prompts": len(examples),
        "tasks": list(tasks),
        "batch_size": batch,
        "fast_engine_s": fast_s,
        "generate_per_example_s": reference_s,
        "speedup": reference_s / fast_s,
        "goal_speedup_at_least_10": reference_s / fast_s >= 10,
        "fast_engine_accuracy": {r["task"]: r["accuracy"] for r in rows},
        "generate_accuracy": reference_acc,
        "fast_path": data["tracr_bench"].get("fast_path"),
    }


def decode_section(info: dict, device: str, sizes: dict, folder: Path) -> dict[str, Any]:
    """A short injection of the default LM, then ``tracr-bench decode`` on it."""
    from tracr_bench.inject.train import inject

    injected = folder / "injected"
    t0 = time.perf_counter()
    record = inject(
        task="parity",
        model=info["path"],
        output=injected,
        device=device,
        steps=sizes["inject_steps"],
        precision="bf16",
        progress=False,
        **sizes["options"],
    )
    out: dict[str, Any] = {"inject_s": time.perf_counter() - t0, "inject_task": "parity"}
    out["inject_tokens_per_s"] = record["tokens_per_s"]
    argv = [sys.executable, "-m", "tracr_bench", "decode", "--model", str(injected)]
    argv += ["--task", "parity", "--device", device, "--no-progress"]
    argv += ["--output", str(folder / "decode.json")]
    if sizes is TINY:
        argv += ["--limit", "4", "--train-examples", "10", "--noise", "none"]
    else:
        argv += ["--limit", "500"]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    out["decode_s"] = time.perf_counter() - t0
    if done.returncode != 0 and "invalid choice: 'decode'" in done.stderr:
        return {**out, "skipped": "tracr-bench decode does not exist in this version"}
    if done.returncode != 0:
        out["error"] = done.stderr.strip().splitlines()[-1:]
        return out
    result = json.loads((folder / "decode.json").read_text())
    out["decode_timings"] = result.get("timings")
    return out


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def device_info(device: str) -> dict[str, Any]:
    import torch

    info = {"device": device, "torch": torch.__version__}
    if device.startswith("cuda"):
        info["name"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def run_sections(args: argparse.Namespace, folder: Path, report: dict, t_start: float) -> None:
    sizes = TINY if args.tiny else FULL
    models = build_models(folder, args.tiny)
    report["models"] = {k: {n: v for n, v in m.items() if n != "path"} for k, m in models.items()}
    decoded = models["gpt2_small" if args.tiny else "default_lm"]

    def left() -> float:
        return args.budget_s - (time.perf_counter() - t_start)

    plan = [
        ("inject", lambda: inject_section(models, args.device, sizes)),
        ("eval", lambda: {"default_lm": eval_section(models["default_lm"], args.device, sizes)}),
        ("decode", lambda: decode_section(decoded, args.device, sizes, folder)),
        ("eval_gpt2_small", lambda: eval_section(models["gpt2_small"], args.device, sizes)),
    ]
    for name, section in plan:
        need = 0 if args.tiny else SECTION_NEEDS_S.get(name.split("_")[0], 60)
        if left() < need:
            report[name] = {"skipped": f"{left():.0f} s of the budget left, {need} s needed"}
            continue
        t0 = time.perf_counter()
        report[name] = section()
        report.setdefault("section_s", {})[name] = round(time.perf_counter() - t0, 2)
        print(f"gpu_check: {name} done in {report['section_s'][name]:.1f} s", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="gpu_check.json")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (the code paths, on the CPU)")
    ap.add_argument("--budget-s", type=float, default=450.0, help="sections stop starting after")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    t_start = time.perf_counter()
    check_device(args.device, args.tiny)
    if args.tiny:
        import torch

        torch.set_num_threads(1)
    output = Path(args.output)
    if not output.parent.is_dir():
        fail(f"the folder of --output {str(output)!r} does not exist")
    report: dict[str, Any] = {"tiny": args.tiny, **device_info(args.device)}
    report["load_average_start"] = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        run_sections(args, Path(tmp), report, t_start)
    report["load_average_end"] = os.getloadavg()
    report["total_s"] = round(time.perf_counter() - t_start, 2)
    from tracr_bench.files import write_json_atomic

    write_json_atomic(output, report, default=str)
    print(f"gpu_check: {report['total_s']:.0f} s; figures written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
