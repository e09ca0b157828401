"""Most frequent letter: ``Which letter occurs most often? x y y z y\\nAnswer:`` -> `` y`` (every
input has a unique most frequent letter). Origin: tracr lib ``make_sort_freq`` (tokens sorted by
descending frequency, built on ``make_hist``); the answer is its first output token.

RASP program (causal, 4 layers), with ``M`` the largest count:

1. ``running_count`` = categorical SelectorWidth of the positions holding this position's letter
   (the histogram of the prefix; 0 at non-letters);
2. ``same_count`` = categorical SelectorWidth of the positions whose ``running_count`` equals this
   one's: 1 where a count is reached for the first time (a "record"), 0 at non-letters;
3. ``records`` = categorical SelectorWidth of the records up to here: every count 1..M is first
   reached once, in order, so at the trigger ``records = M``; ``record_value`` = the same count
   at record positions only (the value reached there; 0 elsewhere);
4. ``most_frequent`` = the letter of the record whose value is ``records`` (categorical
   Aggregate): the first letter to reach M occurrences, the mode when it is unique.
"""

from __future__ import annotations

import random
from collections import Counter

from tracr_bench.task import Split, Task, TokenMap

LETTERS, NEW_LETTER = ("x", "y", "z"), "w"
ALL_LETTERS = LETTERS + (NEW_LETTER,)


def letters(lo: int, hi: int, alphabet=LETTERS, near_tie: bool = False):
    """A length in [lo, hi] (weighted by the number of strings, capped at 3**9, so short lengths
    do not run out), then uniform letters (``w``, when in the alphabet and missing, replaces every
    copy of one letter), until one letter occurs most often; ``near_tie``: letter counts
    (k + 1, k, n - 2k - 1 <= k), k uniform, shuffled."""
    lengths = list(range(lo, hi + 1))
    weights = [min(len(alphabet) ** n, 3**9) for n in lengths]

    def draw(rng: random.Random) -> tuple[str, ...]:
        while True:
            n = rng.choices(lengths, weights)[0]
            if near_tie:
                k, (a, b, c) = rng.randint(-(-(n - 1) // 3), (n - 1) // 2), rng.sample(alphabet, 3)
                s = [a] * (k + 1) + [b] * k + [c] * (n - 2 * k - 1)
                rng.shuffle(s)
            else:
                s = [rng.choice(alphabet) for _ in range(n)]
                if NEW_LETTER in alphabet and NEW_LETTER not in s:
                    old = rng.choice(sorted(set(s)))
                    s = [NEW_LETTER if x == old else x for x in s]
            top = [c for _, c in Counter(s).most_common(2)] + [0]
            if top[0] > top[1]:
                return tuple(s)

    return draw


def program():
    from tracr.rasp import rasp

    from tracr_bench.task.lib import selector_width as width

    tokens = rasp.tokens

    running = width(tokens, tokens, lambda k, q: k == q and k in ALL_LETTERS, "running_count")
    same_count = width(running, running, lambda k, q: q > 0 and k == q, "same_count")
    records = width(same_count, tokens, lambda k, q: k == 1, "records")
    record_value = width(same_count, same_count, lambda k, q: k == 1 and q == 1, "record_value")
    select = rasp.Select(record_value, records, lambda k, q: q > 0 and k == q)
    return rasp.categorical(rasp.Aggregate(select, tokens)).named("most_frequent")


SPLITS = [  # name, description, input lengths, draw
    ("train", "3-15 letters over x/y/z", 3, 15, letters(3, 15)),
    ("test", "same distribution as train", 3, 15, letters(3, 15)),
    ("length", "longer: 16-40 letters over x/y/z", 16, 40, letters(16, 40)),
    ("new_letter", "unseen letter: w/x/y/z, at least one w", 3, 15, letters(3, 15, ALL_LETTERS)),
    ("near_tie", "near miss: the mode leads by exactly one", 3, 15, letters(3, 15, near_tie=True)),
]

TASK = Task(
    name="most_frequent",
    description="Which letter occurs most often (a unique mode)? Answer the letter.",
    version=1,
    program=program,
    token_map=TokenMap.identity(ALL_LETTERS, trigger=":"),
    prompt=lambda inp: "Which letter occurs most often? " + " ".join(inp) + "\nAnswer:",
    target=lambda inp: " " + Counter(inp).most_common(1)[0][0],
    splits={
        name: Split(name, text, lo, hi, 50_000 if name == "train" else 4_000, draw=draw)
        for name, text, lo, hi, draw in SPLITS
    },
)
