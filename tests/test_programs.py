"""Every bundled task: reference solver, tracr's causal RASP evaluation, tracr's compiled model
and our torch port agree on the answer, on hypothesis-generated inputs of every split."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tracr.rasp import causal_eval

from tests.conftest import task_names
from tracr_bench.compiler.oracle import batch_ids
from tracr_bench.compiler.task_programs import compile_task, program_for, program_settings
from tracr_bench.compiler.token_translation import Translator
from tracr_bench.compiler.torch_program import TorchProgram
from tracr_bench.task import get_task

HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    # one input per split through its own draw function: a task whose draws take many random
    # numbers makes a large smallest example, which is what this test means to draw
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
    ],
)


def draw_input(data: st.DataObject, task, split: str) -> tuple[str, ...]:
    sp = task.splits[split]
    if sp.enumerate is not None:
        return tuple(data.draw(st.sampled_from(list(sp.enumerate()))))
    return tuple(sp.draw(data.draw(st.randoms(use_true_random=False))))


@pytest.fixture(scope="module")
def programs():
    """Each task's injection and oracle programs, compiled or loaded from the cache once."""
    cache: dict = {}

    def get(name: str, which: str) -> TorchProgram:
        if (name, which) not in cache:
            cache[(name, which)] = TorchProgram.from_compiled(compile_task(get_task(name), which))
        return cache[(name, which)]

    return get


@pytest.mark.parametrize("name", task_names())
@HYPOTHESIS
@given(data=st.data())
def test_causal_rasp_matches_reference_solver(name, data, default_tokenizer):
    """tracr's causal evaluation of the RASP program, on the translated prompt + answer,
    answers what the pure-Python solver answers, on every split the program can read."""
    task = get_task(name)
    split = data.draw(st.sampled_from([s for s in task.splits if not task.splits[s].oracle_exempt]))
    tr = Translator(task, default_tokenizer).encode_example(
        task.example(draw_input(data, task, split))
    )
    program = program_for(task, "oracle")
    out = causal_eval.evaluate(program, tr.symbols[1:])  # RASP sees no BOS
    got = [str(out[p - 1]) for p in tr.answer_positions]
    assert got == tr.answer_units, (split, tr.example)


@pytest.mark.parametrize("name", task_names())
@HYPOTHESIS
@given(data=st.data())
def test_torch_port_of_both_programs_matches_solver(name, data, default_tokenizer, programs):
    """The compiled injection program (on training lengths) and the compiled oracle program (on
    every split) answer like the solver, through our torch port, in one padded batch."""
    task = get_task(name)
    translator = Translator(task, default_tokenizer)
    for which, splits in [("injection", ["train"]), ("oracle", list(task.splits))]:
        prog = programs(name, which)
        splits = [s for s in splits if not task.splits[s].oracle_exempt]
        rows = [translator.encode_example(task.example(draw_input(data, task, s))) for s in splits]
        lookup = translator.lookup(prog.compiled.input_encoding)
        ids = batch_ids(rows, lookup, prog.bos_id, prog.pad_id)
        decoded = prog.decode_output(prog(ids).final)
        for row, out in zip(rows, decoded, strict=True):
            assert [str(out[p]) for p in row.answer_positions] == row.answer_units, (which, row)


def tracr_sublayers_f64(cp, ids: np.ndarray) -> list[np.ndarray]:
    """tracr's own model run in float64 (weights cast up): embedding + every sublayer, in our
    residual order. In float32 the two implementations differ by rounding noise that the
    steep MLPs of ``mlp_exactness`` 10,000 amplify to ~1e-3 on values that should be 0."""
    import jax
    import jax.numpy as jnp

    a = cp.assembled
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype=jnp.float64), a.params)
        out = a.forward(params, jnp.asarray(ids)).transformer_output
        res = [out.input_embeddings, *out.residuals]
        return [np.asarray(r, dtype=np.float64)[..., cp.tracr_perm] for r in res]


@pytest.mark.parametrize("name", task_names())
def test_torch_port_matches_tracr_on_task_programs(name, default_tokenizer):
    """Every sublayer's residual of the injection program: torch port vs tracr within 1e-5 (both
    in float64), and the same decoded answers in float32, on translated training examples."""
    import tempfile
    from pathlib import Path

    from tracr_bench.compiler.compiling import compile_program

    task = get_task(name)
    settings = program_settings(task, "injection")
    with tempfile.TemporaryDirectory() as tmp:  # a fresh compile, so tracr's model is at hand
        cp = compile_program(
            program_for(task, "injection"),
            task.token_map.compiler_vocab(),
            settings.max_seq_len,
            mlp_exactness=settings.mlp_exactness,
            cache_dir=Path(tmp),
        )
    assert cp.key == compile_task(task, "injection").key  # the program the injector uses
    translator = Translator(task, default_tokenizer)
    rows = [translator.encode_example(ex) for ex in task.examples("train", size=4, seed=11)]
    ids = batch_ids(rows, translator.lookup(cp.input_encoding), cp.bos_id, cp.pad_id)
    prog = TorchProgram.from_compiled(cp)
    prog64 = TorchProgram.from_compiled(cp).double()
    for i, row in enumerate(rows):  # tracr does not mask PAD: one unpadded row at a time
        one = ids[i : i + 1, : 1 + len(row.lm_ids)]
        ref = tracr_sublayers_f64(cp, one.numpy())
        ours = prog64(one, sublayers=True).sublayer_residuals
        assert len(ref) == len(ours) == 2 * cp.n_layers + 1
        for r, o in zip(ref, ours, strict=True):
            np.testing.assert_allclose(o.numpy(), r, atol=1e-5, rtol=0)
        tracr_out = cp.assembled.apply(row.symbols).decoded
        ours32 = prog.decode_output(prog(one).final)[0]
        assert [str(ours32[p]) for p in row.answer_positions] == [
            str(tracr_out[p]) for p in row.answer_positions
        ]


def test_random_inputs_module_is_not_used_by_generators():
    """Generators draw from the rng they are given: the global stream stays untouched."""
    state = random.getstate()
    for name in task_names():
        get_task(name).examples("test", size=5, seed=1)
    assert random.getstate() == state
