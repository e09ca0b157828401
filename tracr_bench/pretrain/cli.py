"""``tracr-bench pretrain``: rebuild the corpus and tokenizer and retrain the default LM.

In: the parsed command line. Out: the model folder (replaced at the end, by default the
package's own ``data/default_lm``), the corpus and tokenizer in ``--work-dir``, a JSON summary on
stdout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_pretrain(args: argparse.Namespace) -> int:
    from tracr_bench.models import DEFAULT_MODEL_DIR
    from tracr_bench.pretrain.config import PretrainConfig
    from tracr_bench.pretrain.train import pretrain

    cfg = PretrainConfig(steps=args.steps, seed=args.seed, threads=args.threads)
    out = Path(args.output) if args.output else DEFAULT_MODEL_DIR
    summary = pretrain(cfg, Path(args.work_dir), out)
    print(json.dumps(summary, indent=1))
    return 0


def add_subcommands(sub) -> None:
    from tracr_bench.pretrain.config import PretrainConfig

    s = sub.add_parser(
        "pretrain",
        help="rebuild the corpus and retrain the default LM",
        description="Rebuild the training corpus and tokenizer (kept in --work-dir, reused by "
        "later runs) and retrain the small default LM from scratch (about 110 minutes on 2 CPU "
        "cores); the model folder is replaced only at the end.",
    )
    s.add_argument("--work-dir", default="pretrain_work", help="corpus and tokenizer folder")
    s.add_argument("--output", default=None, help="model folder (default: the package's)")
    s.add_argument("--steps", type=int, default=PretrainConfig.steps, help="training steps")
    s.add_argument("--seed", type=int, default=PretrainConfig.seed, help="initialisation seed")
    s.add_argument("--threads", type=int, default=PretrainConfig.threads, help="torch CPU threads")
    s.set_defaults(func=cmd_pretrain)
