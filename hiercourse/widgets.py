"""Interactive explorers (ipywidgets) that fall back to static output without a widget frontend.

Taught in chapter 08 (the interest explorer).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hiercourse.preprocessing import STAGES


def widgets_available() -> bool:
    """True when ipywidgets imports and we run inside a Jupyter kernel (not plain Python).

    Taught in chapter 08.
    """
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def user_report(model, split, user: int, stage: str = "test", k: int = 10, max_len: int = 50,
                top: tuple[int, int] = (4, 3)):
    """One user's interest tree (figure) and top-``k`` list (DataFrame), for encoded user ``user``.

    The top-k list masks the items seen before the ``stage`` target, as evaluation does,
    and marks the one the user really chose next (``hit``). ``model`` is a
    ``HierarchicalInterestModel``, ``split`` its ``SequenceSplit``. Returns
    ``(figure, table)``; the table has columns rank, item (encoded id), title, node,
    score, hit. Taught in chapter 08.
    """
    import matplotlib.pyplot as plt
    import torch

    from .evaluation import candidate_mask, scoring
    from .plots.interests import plot_interest_tree

    if not 0 <= user < split.n_users:
        raise ValueError(f"user must be an encoded user 0..{split.n_users - 1}, got {user}.")
    titles = split.items.set_index("idx")["title"].reindex(range(split.n_items + 1)).fillna("<pad>").tolist()
    history = split.history(stage, max_len)[user:user + 1]
    with scoring(model):
        scores = model.scores(history, torch.tensor([user]))[0]
    target = int(split.targets(stage)[user]) if stage in STAGES else -1
    # masked as in evaluation: seen items out, the target (if any) always in
    indptr, indices = (np.asarray(part) for part in split.seen(stage))
    candidates = candidate_mask(indptr, indices, torch.tensor([user]), split.n_items + 1,
                                None if target < 0 else torch.tensor([target]))[0]
    top_items = scores.masked_fill(~candidates, float("-inf")).topk(k).indices.numpy()
    paths = np.asarray(split.item_paths)[top_items]
    table = pd.DataFrame({
        "rank": np.arange(1, k + 1),
        "item": top_items,
        "title": [titles[j] for j in top_items],
        "node": [" > ".join(split.node_names[l][paths[r, l]] for l in range(paths.shape[1])) for r in range(k)],
        "score": scores[top_items].numpy().round(3),
        "hit": top_items == target,
    })
    fig, ax = plt.subplots(figsize=(10, 5))
    user_id = int(split.idmap.decode_users([user])[0])
    plot_interest_tree(model, history, title=f"user {user_id}", top=top, item_names=titles, ax=ax)
    return fig, table


def interest_explorer(model, split, users=None, stage: str = "test", k: int = 10, max_len: int = 50):
    """Pick a user -> their interest tree and top-``k`` list.

    The first user's report is always displayed as ordinary output (so a static
    rendering, e.g. on GitHub or in CI, still shows it); with a widget frontend a
    dropdown below it redraws the report for any other user. Returns the widget
    (or None without ipywidgets). Taught in chapter 08.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    users = list(range(min(split.n_users, 50))) if users is None else [int(u) for u in users]
    if not users:
        raise ValueError("no users to explore: pass encoded user ids (0..n_users-1).")
    labels = [(f"user {int(split.idmap.decode_users([u])[0])}", u) for u in users]

    def show(user: int) -> None:
        fig, table = user_report(model, split, user, stage, k, max_len)
        display(fig)
        plt.close(fig)
        display(table)

    show(users[0])
    if not widgets_available():
        return None
    import ipywidgets as w

    picker = w.Dropdown(options=labels, value=users[0], description="User")
    out = w.Output()

    def on_change(change) -> None:
        with out:
            out.clear_output(wait=True)
            show(change["new"])

    picker.observe(on_change, names="value")
    box = w.VBox([w.HTML("<b>Interest explorer</b>: pick another user (above: the first one)"), picker, out])
    display(box)
    return box
