"""Pattern detection: does some letter occur twice with exactly one *different* letter between
(an ``a b a`` window)? ``Is some letter repeated with exactly one different letter in between?
x y y x\\nAnswer:`` -> `` no`` (``x y x`` -> `` yes``; ``x x x`` is not the pattern).

Training strings use the letters ``x`` and ``y``; half contain the pattern (uniform random
strings, with one planted if none occurs) and half avoid it (a random walk that never completes
it, so its runs are mostly 2 or longer). ``one_flip`` is the near miss: pattern-free strings and
the same kind of strings with one letter changed so that the pattern appears once or twice.

RASP program (causal, 4 layers): ``prev1`` / ``prev2`` = the tokens one and two positions back
(categorical Aggregates on indices); ``same_as_prev2`` and ``differs_from_prev1`` (letters only);
``aba`` = both; ``aba_count`` = numerical SelectorWidth of ``aba`` positions up to here (at the
trigger: the whole input); ``pattern`` = ``yes`` if the count is positive.
"""

from __future__ import annotations

import random

from tracr_bench.task import Split, Task, TokenMap, standard_splits

LETTERS = ("x", "y", "z")
TRAIN_LETTERS = LETTERS[:2]
MIN_LEN, MAX_LEN = 6, 24  # train / test input lengths, in letters
OOD_MAX_LEN = 48


def has_aba(s) -> bool:
    return any(s[i] == s[i + 2] != s[i + 1] for i in range(len(s) - 2))


def prompt(inp: tuple[str, ...]) -> str:
    return (
        "Is some letter repeated with exactly one different letter in between? "
        + " ".join(inp)
        + "\nAnswer:"
    )


def target(inp: tuple[str, ...]) -> str:
    return " yes" if has_aba(inp) else " no"


def _negative(rng: random.Random, n: int, letters: tuple[str, ...]) -> list[str]:
    """A uniform-ish pattern-free string: after ``a b`` (a != b) the next letter is never a."""
    s: list[str] = []
    for i in range(n):
        allowed = letters
        if i >= 2 and s[i - 1] != s[i - 2]:
            allowed = tuple(c for c in letters if c != s[i - 2])
        s.append(rng.choice(allowed))
    return s


def _positive(rng: random.Random, n: int, letters: tuple[str, ...]) -> list[str]:
    s = [rng.choice(letters) for _ in range(n)]
    if not has_aba(s):
        i = rng.randrange(n - 2)
        a, b = rng.sample(letters, 2)
        s[i : i + 3] = [a, b, a]
    return s


def _count_pattern_free(n: int, letters: int) -> int:
    """How many strings of length n over ``letters`` letters avoid the pattern."""
    if n < 2:
        return letters**n
    same, diff = letters, letters * (letters - 1)  # strings ending in a a / in a b
    for _ in range(n - 2):
        same, diff = same + diff, same * (letters - 1) + diff * (letters - 2)
    return same + diff


def _length_weights(lo: int, hi: int, letters: int) -> list[int]:
    """Length weights that avoid running out of distinct short pattern-free strings (which would
    tilt the labels towards ``yes``): proportional to their number, capped at 30,000."""
    return [min(_count_pattern_free(n, letters), 30_000) for n in range(lo, hi + 1)]


def _balanced(lo: int, hi: int, letters: tuple[str, ...]):
    lengths = list(range(lo, hi + 1))
    weights = _length_weights(lo, hi, len(letters))

    def draw(rng: random.Random) -> tuple[str, ...]:
        n = rng.choices(lengths, weights)[0]
        make = _positive if rng.random() < 0.5 else _negative
        return tuple(make(rng, n, letters))

    return draw


_ONE_FLIP_LENGTHS = list(range(MIN_LEN, MAX_LEN + 1))
_ONE_FLIP_WEIGHTS = _length_weights(MIN_LEN, MAX_LEN, len(TRAIN_LETTERS))


def _draw_one_flip(rng: random.Random) -> tuple[str, ...]:
    """Half pattern-free strings, half pattern-free strings with one letter changed to make the
    pattern appear (x/y, train lengths)."""
    n = rng.choices(_ONE_FLIP_LENGTHS, _ONE_FLIP_WEIGHTS)[0]
    s = _negative(rng, n, TRAIN_LETTERS)
    if rng.random() < 0.5:
        return tuple(s)
    while True:
        i = rng.randrange(n)
        t = list(s)
        t[i] = "y" if t[i] == "x" else "x"
        if has_aba(t):
            return tuple(t)
        s = _negative(rng, n, TRAIN_LETTERS)  # no single flip worked here: start over


def program():
    from tracr.rasp import rasp

    from tracr_bench.task import lib

    prev1 = lib.shift_by(1, name="prev1")
    prev2 = lib.shift_by(2, name="prev2")
    same_as_prev2 = rasp.SequenceMap(
        lambda a, t: t in LETTERS and a == t, prev2, rasp.tokens
    ).named("same_as_prev2")
    differs_from_prev1 = rasp.SequenceMap(
        lambda b, t: t in LETTERS and b in LETTERS and b != t, prev1, rasp.tokens
    ).named("differs_from_prev1")
    aba = rasp.SequenceMap(lambda a, b: bool(a and b), same_as_prev2, differs_from_prev1).named(
        "aba"
    )
    # Queries are the tokens (never a zero vector); keys where ``aba`` has no value (the first two
    # positions, whose shifted Aggregates select nothing) are never selected.
    count = lib.count_so_far(lambda k: k is True, keys=aba, numerical=True, name="aba_count")
    return lib.yes_no(lambda c: c > 0.5, count, name="pattern")


TASK = Task(
    name="pattern",
    description="Does some letter occur twice with exactly one different letter between "
    "(an a-b-a window)? Answer yes or no.",
    version=1,
    program=program,
    token_map=TokenMap.identity(LETTERS, trigger=":"),
    prompt=prompt,
    target=target,
    splits=[
        *standard_splits(
            _balanced(MIN_LEN, MAX_LEN, TRAIN_LETTERS),
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            description=f"{MIN_LEN}-{MAX_LEN} letters over x/y, half with the pattern",
        ),
        Split(
            name="length",
            description=f"longer inputs: {MAX_LEN + 1}-{OOD_MAX_LEN} letters over x/y, half "
            "with the pattern",
            min_length=MAX_LEN + 1,
            max_length=OOD_MAX_LEN,
            draw=_balanced(MAX_LEN + 1, OOD_MAX_LEN, TRAIN_LETTERS),
        ),
        Split(
            name="new_letter",
            description=f"{MIN_LEN}-{MAX_LEN} letters over x/y/z (z unseen in training), half "
            "with it",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_balanced(MIN_LEN, MAX_LEN, LETTERS),
        ),
        Split(
            name="one_flip",
            description=f"near miss: {MIN_LEN}-{MAX_LEN} pattern-free x/y strings and the same "
            "kind with one letter flipped to create the pattern",
            min_length=MIN_LEN,
            max_length=MAX_LEN,
            draw=_draw_one_flip,
        ),
    ],
)
