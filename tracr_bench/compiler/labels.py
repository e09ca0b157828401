"""Canonical residual labels: tracr's raw labels renamed and put in a fixed order.

tracr-pypi labels every RASP expression ``<name>_<unique id>`` where the id is a process-wide
counter, so its raw residual labels (``length_17:3``) change with the order in which programs
are built. Each SOp gets a canonical name (see ``graph_key.canonical_names``); here a raw label
``<dir name>`` or ``<dir name>:<value>`` is rewritten with it (``length:3``), and the residual
dimensions are sorted by the rewritten labels (name, then numeric values in numeric order, then
other values), so a program lays out its residual stream identically in every process.
"""

from __future__ import annotations

import numpy as np


def label_matches(label: str, name: str) -> bool:
    """True when the residual ``label`` is ``name`` itself or one of its values (``name:v``)."""
    return label == name or label.startswith(name + ":")


def rename_label(raw: str, names: dict[str, str], by_length: list[str]) -> str:
    """One raw tracr residual label with its SOp label replaced by the canonical name.

    ``by_length`` holds the keys of ``names`` longest first, so that a derived direction such as
    ``<label>_selector_width_attn_output`` is matched by its own SOp's label."""
    dir_name, sep, value = raw.partition(":")
    if dir_name in names:
        new = names[dir_name]
    else:
        new = dir_name
        for label in by_length:
            if dir_name.startswith(label + "_"):
                new = names[label] + dir_name[len(label) :]
                break
    return new + sep + value


def label_sort_key(label: str) -> tuple:
    """Order of the canonical residual: by name, then the bare name, numbers, other values."""
    name, sep, value = label.partition(":")
    if not sep:
        return (name, 0, 0.0, "")
    try:
        return (name, 1, float(value), value)
    except ValueError:
        return (name, 2, 0.0, value)


def canonical_residual(
    raw_labels: list[str], names: dict[str, str]
) -> tuple[np.ndarray, list[str]]:
    """``(perm, labels)``: ``labels[i]`` is the canonical label of raw dimension ``perm[i]``."""
    by_length = sorted(names, key=len, reverse=True)
    renamed = [rename_label(lab, names, by_length) for lab in raw_labels]
    if len(set(renamed)) != len(renamed):  # pragma: no cover - defensive
        raise RuntimeError(f"canonical residual labels are not unique: {renamed}")
    perm = np.array(sorted(range(len(renamed)), key=lambda i: label_sort_key(renamed[i])))
    return perm, [renamed[i] for i in perm]
