"""Integer sum: ``12 + 449 =`` -> `` 461`` (the paper's third task), written one digit per token,
most significant first; OOD: longer operands, rippling carries, and two-decimal numbers.

RASP program (causal). Symbols: the ten digits, ``+``, ``.``, the trigger ``=``; anything else
is filler. Operands are located by counting digits (never by absolute position), so fillers
anywhere (e.g. a tokenizer's stand-alone spaces) do not matter; ``.`` is not a digit, so
``x.xx`` is added as the 3-digit integer ``xxx`` and the point is put back when writing.

Causal, 10 layers, 249 residual dims (injection, max_seq_len 11):

1. ``n_digits``: categorical SelectorWidth of the digits up to here; ``key``: the same count at
   digit positions and 0 elsewhere (the address of each operand digit);
2. ``len_a`` / ``len_ab``: ``n_digits`` at ``+`` / at ``=`` (categorical Aggregates), hence
   ``geo`` = (digits of a, digits of b); ``emitted``: answer digits written so far;
   ``decimal``: whether a ``.`` occurs (numerical mean, then a Map);
3. fixed frame, column c = 0 the most significant: the digits of a and b in each column
   (numerical Aggregates of digit/10 addressed by ``key``), their sum (LinearSequenceMap), its
   generate / propagate / kill state (a Map keeping only integer breakpoints), and the carry out
   of the top column (``carry_out``) by a balanced tree of SequenceMaps over the states;
4. relative frame, columns ``emitted - 1`` onwards: the two candidates for the digit to write
   (the column ``emitted`` if the sum keeps the operands' width, the column before it if it
   gains a leading 1), each plus the carry from the columns below it;
5. the unit to write: ``.`` (two decimals before the end), ``1`` (the new leading digit), or the
   candidate that ``carry_out`` picks.

``program`` covers operands of up to 3 digits and answers of up to 3 digits (everything that
fits in the injection length, 11); ``oracle_program`` operands of up to 4 digits and answers of
up to 5 (11 layers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tracr_bench.task import Split, Task, TokenMap, standard_splits

DIGITS = tuple("0123456789")
TRIGGER = "="
PLUS = "+"
POINT = "."
TRAIN_MAX = 450
LENGTH_MAX_DIGITS = 4


def _fmt(value: int, decimal: bool) -> str:
    return f"{value // 100}.{value % 100:02d}" if decimal else str(value)


def _parse(inp: tuple[str, ...]) -> tuple[str, str]:
    text = "".join(inp)
    a, b = text.split(PLUS)
    return a, b


def prompt(inp: tuple[str, ...]) -> str:
    a, b = _parse(inp)
    return f"{a} + {b} ="


def target(inp: tuple[str, ...]) -> str:
    a, b = _parse(inp)
    if POINT in a or POINT in b:
        total = round(float(a) * 100) + round(float(b) * 100)
        return " " + _fmt(total, True)
    return f" {int(a) + int(b)}"


def answer_units(text: str) -> list[str]:
    return list(text.strip())


def _symbols(a: str, b: str) -> tuple[str, ...]:
    return tuple(a) + (PLUS,) + tuple(b)


def _draw_train(rng: random.Random) -> tuple[str, ...]:
    return _symbols(str(rng.randrange(TRAIN_MAX)), str(rng.randrange(TRAIN_MAX)))


def _operand(rng: random.Random, max_digits: int) -> str:
    n = rng.randint(1, max_digits)
    return str(rng.randrange(10 ** (n - 1) if n > 1 else 0, 10**n))


def _draw_length(rng: random.Random) -> tuple[str, ...]:
    return _symbols(_operand(rng, LENGTH_MAX_DIGITS), _operand(rng, LENGTH_MAX_DIGITS))


# a + (k*100 - a) for k = 1..9 and 0 < a < k*100: every such input, drawn uniformly.
_CASCADE = [(k, a) for k in range(1, 10) for a in range(1, k * 100)]


def _draw_cascade(rng: random.Random) -> tuple[str, ...]:
    k, a = _CASCADE[rng.randrange(len(_CASCADE))]
    return _symbols(str(a), str(k * 100 - a))


def _draw_decimals(rng: random.Random) -> tuple[str, ...]:
    return _symbols(_fmt(rng.randrange(1000), True), _fmt(rng.randrange(1000), True))


G, P, K = "G", "P", "K"  # the column generates / propagates / kills a carry


def _safe(f, default=None):
    """Where an input is undefined (None: e.g. ``len_ab`` before the ``=``; RASP evaluation
    passes it on), the output is undefined too, and a selector does not match."""

    def g(*args):
        return default if any(a is None for a in args) else f(*args)

    return g


def _state(t: int) -> str:
    return G if t >= 10 else (P if t == 9 else K)


def _comb(hi: str, lo: str) -> str:
    return lo if hi == P else hi


def _integer(f):
    """Numerical -> categorical Map that keeps only integer breakpoints (the inferred value set
    of a LinearSequenceMap of two means has many non-integer values that never occur)."""

    def g(x):
        r = round(x)
        return f(r) if abs(x - r) < 1e-6 and 0 <= r <= 18 else None

    return g


def _selects_digit(operand: str, column):
    """Selector predicate: the key is the address of ``operand``'s digit in column
    ``column(query)`` (0 = the most significant column of the wider operand; the query holds
    the operand lengths first). Columns past the last one select nothing (read as 0)."""

    def pred(k, q):
        la, lb = q[0], q[1]
        place = max(la, lb) - 1 - column(q)
        if operand == "a":
            return 0 <= place < la and k == la - place
        return 0 <= place < lb and k == la + lb - place

    return _safe(pred, False)


def _cat(x, name):
    from tracr.rasp import rasp

    return rasp.categorical(x).named(name)


def _num(x, name):
    from tracr.rasp import rasp

    return rasp.numerical(x).named(name)


@dataclass(frozen=True)
class _Frame:
    """Where the operands are: what every column computation reads."""

    digit_val: object  # numerical digit / 10 at digit positions, 0 elsewhere
    key: object  # the digit's rank among the digits (its address), 0 elsewhere
    geo: object  # (digits of a, digits of b), from the ``=`` on
    emitted: object  # answer digits written so far
    dot_next: object  # a decimal answer, not at its point: where the point may come next


def _frame(max_digits: int, max_answer_digits: int) -> _Frame:
    from tracr.rasp import rasp

    from tracr_bench.task import lib

    tokens = rasp.tokens
    n_digits = lib.count_so_far(lambda k: k in DIGITS, name="n_digits")
    digit_val = _num(rasp.Map(lambda s: int(s) / 10 if s in DIGITS else 0, tokens), "digit_val")
    is_point = lib.indicator(lambda s: s == POINT, name="is_point")
    point_frac = lib.frac_so_far(is_point, name="point_frac")
    decimal = _cat(rasp.Map(lambda x: x > 0, point_frac), "decimal")
    cur_point = _cat(rasp.Map(lambda s: s == POINT, tokens), "cur_point")
    dot_next = _cat(
        rasp.SequenceMap(_safe(lambda d, c: d and not c), decimal, cur_point), "dot_next"
    )
    len_a = lib.value_at(PLUS, n_digits, name="len_a")
    len_ab = lib.value_at(TRIGGER, n_digits, name="len_ab")
    key = _cat(
        rasp.SelectorWidth(rasp.Select(tokens, tokens, lambda k, q: k in DIGITS and q in DIGITS)),
        "key",
    )

    def geo_f(la, lab):
        lb = lab - la
        return (la, lb) if 1 <= la <= max_digits and 1 <= lb <= max_digits else None

    def emitted_f(n, lab):
        return n - lab if 0 <= n - lab < max_answer_digits else None

    geo = _cat(rasp.SequenceMap(_safe(geo_f), len_a, len_ab), "geo")
    emitted = _cat(rasp.SequenceMap(_safe(emitted_f), n_digits, len_ab), "emitted")
    return _Frame(digit_val, key, geo, emitted, dot_next)


def _carry_out(max_digits: int, frame: _Frame):
    """Fixed frame, column c = 0 the most significant: the carry out of column 0 (columns past
    the last one read as 0 + 0: kill, which is right below the last column)."""
    from tracr.rasp import rasp

    level = []
    for c in range(max_digits):
        fa, fb = (
            rasp.Aggregate(
                rasp.Select(frame.key, frame.geo, _selects_digit(op, lambda q, c=c: c)),
                frame.digit_val,
                default=0,
            )
            for op in "ab"
        )
        ft = _num(
            rasp.LinearSequenceMap(_num(fa, f"fa_{c}"), _num(fb, f"fb_{c}"), 10, 10), f"ft_{c}"
        )
        level.append(_cat(rasp.Map(_integer(_state), ft), f"fs_{c}"))
    depth = 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            comb = rasp.SequenceMap(_safe(_comb), level[i], level[i + 1])
            nxt.append(_cat(comb, f"fc_{depth}_{i}"))
        if len(level) % 2:
            nxt.append(level[-1])
        level, depth = nxt, depth + 1
    return level[0]


def _chain(states, name):
    """_comb of a most-significant-first list of states, as a balanced tree."""
    from tracr.rasp import rasp

    while len(states) > 1:
        nxt = [
            _cat(
                rasp.SequenceMap(_safe(_comb), states[i], states[i + 1]),
                f"{name}_{len(states)}_{i}",
            )
            for i in range(0, len(states) - 1, 2)
        ]
        states = nxt + (states[-1:] if len(states) % 2 else [])
    return states[0]


def _candidates(max_digits: int, frame: _Frame):
    """Relative frame, column c = emitted - 1 + r (0 = most significant): the digit to write
    if the sum keeps the operands' width (candidate 0: column ``emitted``) and if it gains a
    leading 1 (candidate 1: the column before), each plus the carry from the columns below."""
    from tracr.rasp import rasp

    geo_e = _cat(
        rasp.SequenceMap(_safe(lambda g, e: g + (e,)), frame.geo, frame.emitted), "geo_emitted"
    )
    n_rel = max_digits + 1
    rel_t = []
    for r in range(n_rel):
        ra, rb = (
            _num(
                rasp.Aggregate(
                    rasp.Select(frame.key, geo_e, _selects_digit(op, lambda q, r=r: q[2] - 1 + r)),
                    frame.digit_val,
                    default=0,
                ),
                f"r{op}_{r}",
            )
            for op in "ab"
        )
        rel_t.append(_num(rasp.LinearSequenceMap(ra, rb, 10, 10), f"rt_{r}"))
    mod0 = _cat(rasp.Map(_integer(lambda t: t % 10), rel_t[0]), "rm_0")
    mod1 = _cat(rasp.Map(_integer(lambda t: t % 10), rel_t[1]), "rm_1")
    rs = [None] + [_cat(rasp.Map(_integer(_state), rel_t[r]), f"rs_{r}") for r in range(1, n_rel)]

    def add(m: int, s: str) -> int:
        return (m + (s == G)) % 10

    cand0 = _cat(rasp.SequenceMap(_safe(add), mod1, _chain(rs[2:n_rel], "carry_0")), "cand_0")
    # columns >= max_digits do not exist
    cand1 = _cat(rasp.SequenceMap(_safe(add), mod0, _chain(rs[1 : n_rel - 1], "carry_1")), "cand_1")
    return cand0, cand1


def _actions(e, dot_next):
    """What to write, (without, with) a carry out of the top column: c0 / c1 (candidate), dot,
    one (the new leading digit)."""
    out = []
    for carry in (False, True):
        if dot_next and e == 1 + carry:
            out.append("dot")
        elif carry:
            out.append("one" if e == 0 else "c1")
        else:
            out.append("c0")
    return tuple(out)


def make_program(max_digits: int, max_answer_digits: int):
    """The sum program for operands of at most ``max_digits`` digits (decimals count 3) and
    answers of at most ``max_answer_digits`` digits (what fits in the compiled length)."""
    from tracr.rasp import rasp

    frame = _frame(max_digits, max_answer_digits)
    carry_out = _carry_out(max_digits, frame)
    cand0, cand1 = _candidates(max_digits, frame)
    unit = _cat(rasp.SequenceMap(_safe(_actions), frame.emitted, frame.dot_next), "unit")
    which = _cat(rasp.SequenceMap(_safe(lambda c, u: u[c == G]), carry_out, unit), "which")
    first = _cat(
        rasp.SequenceMap(lambda w, d: str(d) if w == "c0" else w, which, cand0), "with_cand_0"
    )
    names = {"dot": POINT, "one": "1"}
    return _cat(
        rasp.SequenceMap(lambda f, d: str(d) if f == "c1" else names.get(f, f), first, cand1),
        "sum_unit",
    )


def program():
    return make_program(3, 3)


def oracle_program():
    return make_program(LENGTH_MAX_DIGITS, LENGTH_MAX_DIGITS + 1)


TASK = Task(
    name="int_sum",
    description="Add two integers (or two-decimal numbers); answer digit by digit.",
    version=1,
    program=program,
    oracle_program=oracle_program,
    token_map=TokenMap.identity(DIGITS + (PLUS, POINT), trigger=TRIGGER),
    prompt=prompt,
    target=target,
    answer_units=answer_units,
    splits=[
        *standard_splits(
            _draw_train, min_length=3, max_length=7, description=f"a, b uniform in [0, {TRAIN_MAX})"
        ),
        Split(
            name="length",
            description=f"operands of 1-{LENGTH_MAX_DIGITS} digits (digit count uniform)",
            min_length=3,
            max_length=2 * LENGTH_MAX_DIGITS + 1,
            draw=_draw_length,
        ),
        Split(
            name="cascading_overflow",
            description="a + (k*100 - a), k = 1..9, 0 < a < k*100: the carry ripples through "
            "every column",
            min_length=3,
            max_length=7,
            draw=_draw_cascade,
        ),
        Split(
            name="decimals",
            description="x.xx + y.yy (answer with two decimals)",
            min_length=9,
            max_length=9,
            draw=_draw_decimals,
        ),
    ],
)
