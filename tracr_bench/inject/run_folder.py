"""The run folder: checked before a run, and the finished model folder written into it.

A new run needs a new or empty, writable folder; ``--resume`` needs one that holds a checkpoint
(``checkpoints/``, see ``checkpoint``) and no finished injection. A finished run leaves the
trained LM (``save_pretrained``, safetensors), its tokenizer, ``adapter.safetensors`` (the
adapter's ``weight`` [D, H] and ``bias`` [D]; metadata: the program's residual labels as JSON and
its output name) and ``injection.json``, the record, written last so that its presence means the
folder is complete; a write that fails or is interrupted removes what it had moved in, so the
folder is then still the unfinished run (checkpoints only), resumable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tracr_bench.files import write_json_atomic
from tracr_bench.inject.checkpoint import check_checkpoint, latest_checkpoint
from tracr_bench.inject.config import InjectError

RECORD = "injection.json"
ADAPTER = "adapter.safetensors"
CHECKPOINTS = "checkpoints"
SNAPSHOTS = "snapshots"  # model folders saved along the way (--save-every)


def check_resumable(output: Path) -> Path:
    """The newest checkpoint of the unfinished run in ``output``, its files checked; InjectError
    if there is none or a file of it is garbage or truncated (naming the file)."""
    checkpoint = latest_checkpoint(output / CHECKPOINTS)
    if checkpoint is None:
        raise InjectError(f"--resume: {str(output)!r} holds no checkpoint to resume from")
    if (output / RECORD).exists():
        raise InjectError(f"--resume: {str(output)!r} already holds a finished injection")
    check_checkpoint(checkpoint)
    return checkpoint


def prepare_output(output: Path) -> bool:
    """Check (and make) a new run's folder; True if this call created it, so that a run that
    fails before its first checkpoint can remove it again."""
    if output.exists():
        if not output.is_dir():
            raise InjectError(f"output {str(output)!r} exists and is not a folder")
        if any(output.iterdir()):
            hint = (
                "; it holds an unfinished run: pass --resume"
                if (output / CHECKPOINTS).exists()
                else ""
            )
            raise InjectError(f"output folder {str(output)!r} is not empty{hint}")
    created = not output.exists()
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as err:
        if created:
            shutil.rmtree(output, ignore_errors=True)
        raise InjectError(
            f"cannot write to output folder {str(output)!r}: {err.strerror}"
        ) from None
    return created


def save_model_folder(
    output: Path,
    lm: Any,
    tokenizer: Any,
    adapter: Any,
    residual_labels: list[str],
    output_name: str,
    record: dict[str, Any],
) -> None:
    """Write the finished run into ``output``: LM, tokenizer and adapter moved in from a
    temporary folder, then ``injection.json``; the checkpoints are removed last."""
    from safetensors.torch import save_file

    partial = Path(tempfile.mkdtemp(prefix=".final-", dir=output))
    moved: list[Path] = []
    try:
        lm.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in adapter.state_dict().items()},
            str(partial / ADAPTER),
            metadata={"residual_labels": json.dumps(residual_labels), "output_name": output_name},
        )
        for f in sorted(partial.iterdir()):
            os.replace(f, output / f.name)
            moved.append(output / f.name)
        write_json_atomic(output / RECORD, record)
    except BaseException:  # an interrupt or a full disk: no model without its record
        for f in moved:
            if f.is_dir():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(output / CHECKPOINTS, ignore_errors=True)
