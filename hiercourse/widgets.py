"""Interactive explorers (ipywidgets) that fall back to static output without a widget frontend.

Taught in chapter 08 (the interest explorer) and chapter 11 (the explanation explorer: the same
report plus "why this item").
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

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


def why_report(model, split, user: int, item: int | None = None, stage: str = "test", k: int = 10,
               max_len: int = 50, top_evidence: int = 3) -> dict[str, Any]:
    """``user_report`` plus "why this item": the score parts of the top-``k`` list and the evidence for one item.

    ``user``: an encoded user; ``item``: an item code of the list (default: the first). Returns a
    dict: ``figure`` (the interest tree), ``top`` (``user_report``'s table joined with the
    ``explain_scores`` parts of each listed item), ``item`` (the explained item code), ``evidence``
    (``history_attribution`` of that item, ``top_evidence`` rows per level). Taught in chapter 11.
    """
    from .explain import explain_scores, history_attribution

    fig, table = user_report(model, split, user, stage, k, max_len)
    titles = split.items.set_index("idx")["title"].reindex(range(split.n_items + 1)).fillna("<pad>").tolist()
    history = split.history(stage, max_len)[user]
    parts = explain_scores(model, history, table["item"].tolist())
    keep = [c for c in parts.columns if c.startswith(("state", "interest/", "prior/"))]
    top = pd.concat([table.reset_index(drop=True), parts[keep].round(3)], axis=1)
    item = int(table["item"].iloc[0]) if item is None else int(item)
    evidence = history_attribution(model, history, item, item_names=titles, top=top_evidence)
    return {"figure": fig, "top": top, "item": item, "evidence": evidence.round(4)}


def _evidence_html(report: dict[str, Any]) -> str:
    row = report["top"][report["top"]["item"] == report["item"]]
    head = (f"<b>Why {row['title'].iloc[0]}</b> (rank {int(row['rank'].iloc[0])}, score "
            f"{float(row['score'].iloc[0]):.3f})" if len(row) else f"<b>Why item {report['item']}</b>")
    return head + ": the history items behind its interest terms" + report["evidence"].to_html(index=False)


@dataclass
class ExplanationExplorer:
    """The explanation explorer's widgets: a user picker, an item picker (the user's top-k), the interest tree
    (a PNG ``Image``), the top-k list with score parts and the evidence for the chosen item (``HTML``).
    ``report`` holds the current ``why_report``. Displaying it displays ``box``. Taught in chapter 11.
    """

    box: Any
    user: Any
    item: Any
    tree: Any
    ranking: Any
    why: Any
    report: dict[str, Any] = field(default_factory=dict)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def explanation_widget(model, split, users=None, stage: str = "test", k: int = 10,
                       max_len: int = 50) -> ExplanationExplorer:
    """Build the explanation explorer's widgets (needs ipywidgets, not a frontend): pick a user -> interest
    tree, top-``k`` list with its score parts; pick an item of the list -> the history items behind it.

    ``users``: encoded user ids (default the first 50). Changing ``.user.value`` or ``.item.value``
    redraws the report (tests drive it that way). Taught in chapter 11.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    users = list(range(min(split.n_users, 50))) if users is None else [int(u) for u in users]
    if not users:
        raise ValueError("no users to explore: pass encoded user ids (0..n_users-1).")
    labels = [(f"user {int(split.idmap.decode_users([u])[0])}", u) for u in users]
    explorer = ExplanationExplorer(
        box=None, user=w.Dropdown(options=labels, value=users[0], description="User"),
        item=w.Dropdown(options=[], description="Why"), tree=w.Image(format="png"), ranking=w.HTML(), why=w.HTML(),
    )
    busy = {"user": False}

    def show_item(change=None) -> None:
        if busy["user"] or explorer.item.value is None:
            return
        report = why_report(model, split, explorer.user.value, explorer.item.value, stage, k, max_len)
        plt.close(report["figure"])
        explorer.report = report
        explorer.why.value = _evidence_html(report)

    def show_user(change=None) -> None:
        report = why_report(model, split, explorer.user.value, None, stage, k, max_len)
        buffer = io.BytesIO()
        report["figure"].savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        plt.close(report["figure"])
        explorer.tree.value = buffer.getvalue()
        explorer.ranking.value = report["top"].to_html(index=False)
        busy["user"] = True  # new options would redraw once per change
        try:
            explorer.item.options = [(f"{r}. {t}", int(j)) for r, t, j in
                                     zip(report["top"]["rank"], report["top"]["title"], report["top"]["item"])]
            explorer.item.value = report["item"]
        finally:
            busy["user"] = False
        explorer.report = report
        explorer.why.value = _evidence_html(report)

    explorer.user.observe(show_user, names="value")
    explorer.item.observe(show_item, names="value")
    show_user()
    explorer.box = w.VBox([w.HTML("<b>Explanation explorer</b>: pick a user, then an item of their list"),
                           w.HBox([explorer.user, explorer.item]), explorer.tree, explorer.ranking, explorer.why])
    return explorer


def explanation_explorer(model, split, users=None, stage: str = "test", k: int = 10, max_len: int = 50):
    """Pick a user -> interest tree, top-``k`` list with score parts, and "why" for a chosen item.

    The first user's report (tree, list, evidence for the top item) is always displayed as
    ordinary output, so a static rendering (GitHub, CI) shows it; with a widget frontend the
    explorer (``explanation_widget``) is displayed below it. Returns the ``ExplanationExplorer``
    (or None without a frontend). Taught in chapter 11.
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML, display

    users = list(range(min(split.n_users, 50))) if users is None else [int(u) for u in users]
    if not users:
        raise ValueError("no users to explore: pass encoded user ids (0..n_users-1).")
    report = why_report(model, split, users[0], None, stage, k, max_len)
    display(report["figure"])
    plt.close(report["figure"])
    display(report["top"])
    display(HTML(_evidence_html(report)) if widgets_available() else report["evidence"])
    if not widgets_available():
        return None
    explorer = explanation_widget(model, split, users, stage, k, max_len)
    display(explorer.box)
    return explorer
