"""Interactive explorers (ipywidgets) that fall back to static output without a widget frontend.

Every explorer first displays its default state as ordinary output (a figure, a table),
so a static rendering (GitHub, nbval, a plain Python run) shows it; with a widget
frontend, controls below it redraw the same picture for other values. Each explorer is
built from a pure function (numbers in, figure/table out) that tests call directly, and
:class:`Explorer`, which wires named controls to it (``explorer.controls["stride"].value = 2``
redraws; ``explorer.figure`` and ``explorer.result`` hold the last drawing).

Taught in chapter 04 (``conv_explorer``), chapter 05 (``softmax_explorer``,
``mask_explorer``), chapter 08 (the interest explorer), chapter 09 (``top_k_explorer``) and
chapter 11 (the explanation explorer: the interest report plus "why this item").
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hiercourse.errors import DataError
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


class Explorer:
    """Named ipywidgets controls wired to a drawing function; redraws whenever a control changes.

    ``controls`` maps a keyword argument of ``draw`` to a widget whose ``value`` is passed
    for it; ``draw(**values) -> (figure or None, result)`` where ``result`` is anything
    ``display`` shows (a DataFrame, a string). After each change ``figure`` and ``result``
    hold the latest drawing (``error`` the message when ``draw`` raised a ``DataError`` or
    ``ValueError``: a control value that makes no sense is shown, not raised), and the
    widget ``box`` shows them. Taught in chapter 04.
    """

    def __init__(self, title: str, controls: Mapping[str, object], draw: Callable):
        import ipywidgets as w

        self.controls = dict(controls)
        self.draw = draw
        self.figure = None
        self.result = None
        self.error: str | None = None
        self.output = w.Output()
        self.box = w.VBox([w.HTML(title), w.HBox(list(self.controls.values()),
                                                 layout=w.Layout(flex_flow="row wrap")), self.output])
        for control in self.controls.values():
            control.observe(lambda change: self.refresh(), names="value")

    def values(self) -> dict:
        """The controls' current values, by name. Taught in chapter 04."""
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> None:
        """Call ``draw`` with the controls' values and show the result in the widget's output.

        Taught in chapter 04.
        """
        with self.output:  # anything draw prints lands in the widget too
            self.output.clear_output(wait=True)
            try:
                self.figure, self.result = self.draw(**self.values())
                self.error = None
            except (DataError, ValueError) as exc:
                self.figure, self.result, self.error = None, None, str(exc)
                print(self.error)
            else:
                _show(self.figure, self.result)  # closes the figure once shown


def _show(figure, result) -> None:
    """Display a figure (then close it) and a result as ordinary output."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    if figure is not None:
        display(figure)
        plt.close(figure)
    if result is not None:
        if isinstance(result, str):
            print(result)
        else:
            display(result)


def _start(title: str, controls: Callable[[], Mapping[str, object]], draw: Callable, defaults: dict,
           interactive: bool | None):
    """Show ``draw(**defaults)`` as static output; then, with a frontend, an :class:`Explorer` below it."""
    from IPython.display import display

    figure, result = draw(**defaults)
    _show(figure, result)
    if not (widgets_available() if interactive is None else interactive):
        return None
    explorer = Explorer(title, controls(), draw)
    explorer.figure, explorer.result = figure, result  # the default state, shown above the widget
    display(explorer.box)
    return explorer


# --- chapter 04: output size and receptive field of a convolution -------------------------------------

def conv_layer_summary(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                       layers: int = 1) -> pd.DataFrame:
    """Output size, receptive field and jump after each of ``layers`` identical convolutions.

    In: the square input's side ``size`` and the layer's ``kernel``, ``stride``, ``padding``,
    ``dilation``. Out: one row per layer (``layer`` 1..layers): ``output size``
    (``scratch.conv_output_size`` of the previous size), ``receptive field`` and ``jump``
    (``scratch.receptive_fields``: input pixels one output sees, input pixels between
    neighbouring outputs). The table stops at the last layer the kernel fits into (fewer rows
    than ``layers``); raises ``DataError`` when it does not fit the input at all. Taught in chapter 04.
    """
    from hiercourse.scratch.shapes import conv_output_size, receptive_fields

    if int(layers) != layers or layers < 1:
        raise DataError(f"layers must be an integer >= 1, got {layers!r}")
    fields = receptive_fields([(f"conv{i + 1}", kernel, stride, dilation) for i in range(layers)])[1:]
    rows, current = [], size
    for i, layer_field in enumerate(fields, start=1):
        try:
            current = conv_output_size(current, kernel, stride, padding, dilation)
        except DataError:
            if i == 1:
                raise
            break
        rows.append({"layer": i, "output size": current, "receptive field": layer_field.size,
                     "jump": layer_field.jump})
    return pd.DataFrame(rows)


def draw_conv(size: int = 28, kernel: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1,
              layers: int = 1):
    """The conv explorer's drawing: ``(figure, table)``.

    The figure is ``plots.maths.plot_conv_window`` of the first layer (input grid, two
    windows, output grid); the table is :func:`conv_layer_summary` for ``layers`` identical
    layers. Taught in chapter 04.
    """
    from hiercourse.plots.maths import plot_conv_window

    table = conv_layer_summary(size, kernel, stride, padding, dilation, layers)
    return plot_conv_window(size, kernel, stride, padding, dilation), table


def conv_explorer(size: int = 12, kernel: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1,
                  layers: int = 1, interactive: bool | None = None):
    """Sliders for input size, kernel, stride, padding, dilation and layers -> output size, receptive field.

    Displays :func:`draw_conv` of the given values (the static view); with a widget frontend
    (or ``interactive=True``) returns an :class:`Explorer` whose controls are named like the
    arguments, else None. Taught in chapter 04.
    """
    defaults = dict(size=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation, layers=layers)

    def controls():
        import ipywidgets as w
        style = {"description_width": "initial"}
        return {
            "size": w.IntSlider(value=size, min=1, max=40, description="input size", style=style),
            "kernel": w.IntSlider(value=kernel, min=1, max=9, description="kernel", style=style),
            "stride": w.IntSlider(value=stride, min=1, max=5, description="stride", style=style),
            "padding": w.IntSlider(value=padding, min=0, max=5, description="padding", style=style),
            "dilation": w.IntSlider(value=dilation, min=1, max=5, description="dilation", style=style),
            "layers": w.IntSlider(value=layers, min=1, max=8, description="identical layers", style=style),
        }

    return _start("<b>Convolution arithmetic</b>: move a slider (above: the default values)", controls,
                  draw_conv, defaults, interactive)


# --- chapter 05: why 1/sqrt(d_k), and masks -------------------------------------------------------------

def softmax_spread(d_k: int, n_keys: int = 16, n_queries: int = 500, seed: int = 0) -> dict:
    """Softmax weights of random scores ``q.k`` and ``q.k / sqrt(d_k)``, entries of q and k ~ N(0, 1).

    In: the key width ``d_k``, ``n_keys`` keys per query, ``n_queries`` queries, a seed.
    Out: a dict with ``weights`` (label -> FloatTensor ``[n_queries, n_keys]``, rows sum to 1,
    labels ``"q.k (unscaled)"`` and ``"q.k / sqrt(d_k)"``) and ``stats`` (a DataFrame, one
    row per label: the variance of the scores, the mean largest weight, the mean entropy in
    nats; ``log(n_keys)`` is the entropy of uniform weights). Taught in chapter 05.
    """
    import torch

    if int(d_k) != d_k or d_k < 1:
        raise DataError(f"d_k must be an integer >= 1, got {d_k!r}")
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n_queries, 1, d_k, generator=gen)
    k = torch.randn(n_queries, n_keys, d_k, generator=gen)
    raw = (q @ k.transpose(1, 2)).squeeze(1)
    weights, rows = {}, {}
    for label, scores in (("q.k (unscaled)", raw), ("q.k / sqrt(d_k)", raw / math.sqrt(d_k))):
        w = torch.softmax(scores, dim=1)
        weights[label] = w
        rows[label] = {"score variance": scores.var().item(), "mean largest weight": w.max(dim=1).values.mean().item(),
                       "mean entropy (nats)": (-torch.special.xlogy(w, w).sum(dim=1)).mean().item()}
    return {"weights": weights, "stats": pd.DataFrame(rows).T}


def draw_softmax(d_k: int = 64, n_keys: int = 16, seed: int = 0):
    """The softmax explorer's drawing: ``(figure, stats)`` of :func:`softmax_spread` for one ``d_k``.

    The figure is ``plots.maths.plot_softmax_spread``. Taught in chapter 05.
    """
    from hiercourse.plots.maths import plot_softmax_spread

    spread = softmax_spread(d_k, n_keys=n_keys, seed=seed)
    return plot_softmax_spread(spread["weights"], d_k), spread["stats"].round(3)


def softmax_explorer(d_k: int = 64, n_keys: int = 16, seed: int = 0, interactive: bool | None = None):
    """A ``d_k`` slider (powers of two, 1..4096) -> how saturated the softmax is, scaled vs unscaled.

    Displays :func:`draw_softmax` for ``d_k`` (the static view); with a widget frontend (or
    ``interactive=True``) returns an :class:`Explorer` (controls ``d_k``, ``n_keys``), else None.
    Taught in chapter 05.
    """
    def controls():
        import ipywidgets as w
        return {"d_k": w.SelectionSlider(options=[2 ** i for i in range(13)], value=d_k, description="d_k"),
                "n_keys": w.IntSlider(value=n_keys, min=2, max=64, description="keys")}

    return _start("<b>Softmax saturation</b>: change d_k (above: the default)", controls,
                  lambda d_k, n_keys: draw_softmax(d_k, n_keys, seed), dict(d_k=d_k, n_keys=n_keys), interactive)


def parse_lengths(text: str | Sequence[int]) -> list[int]:
    """``"6, 4"`` (or ``[6, 4]``) -> ``[6, 4]``: the true lengths of a batch's sequences.

    Raises ``DataError`` for anything that is not a list of integers >= 0. Taught in chapter 05.
    """
    parts = [p for p in str(text).replace(",", " ").split()] if isinstance(text, str) else list(text)
    try:
        lengths = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise DataError(f"lengths must be whole numbers separated by commas, got {text!r}") from None
    if not lengths or min(lengths) < 0:
        raise DataError(f"give one length >= 0 per sequence, got {text!r}")
    return lengths


def attention_mask(length: int, lengths: str | Sequence[int] = (), causal: bool = True,
                   padding_side: str = "left"):
    """The boolean mask a batch of self-attention uses: ``[B, L, L]``, True where attention is blocked.

    In: the padded ``length`` L, the ``lengths`` of the B sequences (each <= L; empty: one
    unpadded sequence), ``causal`` (block later keys), ``padding_side`` (``"left"``, as
    chapter 02 pads histories, or ``"right"``). Out: ``causal_mask(L) | padding_mask`` per
    sequence, the mask ``scratch.scaled_dot_product_attention`` takes. Taught in chapter 05.
    """
    import torch

    from hiercourse.scratch.attention import causal_mask, padding_mask

    if int(length) != length or length < 1:
        raise DataError(f"length must be an integer >= 1, got {length!r}")
    lengths = parse_lengths(lengths) if len(lengths) else [length]
    if max(lengths) > length:
        raise DataError(f"a sequence of length {max(lengths)} does not fit into {length} positions")
    if padding_side not in ("left", "right"):
        raise DataError(f"padding_side is 'left' or 'right', got {padding_side!r}")
    padded = padding_mask(torch.tensor(lengths), length)  # True at the tail
    if padding_side == "left":
        padded = padded.flip(1)
    blocked = padded[:, None, :].expand(len(lengths), length, length)
    if causal:
        blocked = blocked | causal_mask(length)[None]
    return blocked.clone()


def draw_mask(length: int = 6, lengths: str = "6, 4", causal: bool = True, padding_side: str = "left"):
    """The mask explorer's drawing: ``(figure, summary)``, one L x L panel per sequence (1 = blocked).

    ``summary`` counts, per sequence, the blocked entries and the queries that see no key at
    all (their softmax row would be 0/0 = NaN without care). Taught in chapter 05.
    """
    from hiercourse.plots.maths import show_matrices

    mask = attention_mask(length, lengths, causal, padding_side)
    panels = {f"sequence {b + 1} (length {n})": mask[b].float()
              for b, n in enumerate(parse_lengths(lengths) if len(lengths) else [length])}
    fig = show_matrices(panels, vmax=1.0)
    fig.suptitle(f"{'causal + ' if causal else ''}{padding_side} padding: 1 = blocked (True), 0 = allowed",
                 fontsize=10)
    fig.tight_layout()
    summary = pd.DataFrame({"blocked entries": mask.sum(dim=(1, 2)).tolist(),
                            "queries with no visible key": mask.all(dim=2).sum(dim=1).tolist()},
                           index=list(panels))
    return fig, summary


def mask_explorer(length: int = 6, lengths: str = "6, 4", causal: bool = True, padding_side: str = "left",
                  interactive: bool | None = None):
    """Build a mask: padded length, the sequences' true lengths, causal or not, padding side.

    Displays :func:`draw_mask` for the given values (the static view); with a widget frontend
    (or ``interactive=True``) returns an :class:`Explorer` (controls ``length``, ``lengths``,
    ``causal``, ``padding_side``), else None. Taught in chapter 05.
    """
    defaults = dict(length=length, lengths=lengths, causal=causal, padding_side=padding_side)

    def controls():
        import ipywidgets as w
        return {"length": w.IntSlider(value=length, min=1, max=16, description="L"),
                "lengths": w.Text(value=lengths, description="lengths", continuous_update=False),
                "causal": w.Checkbox(value=causal, description="causal"),
                "padding_side": w.ToggleButtons(options=["left", "right"], value=padding_side,
                                                description="padding")}

    return _start("<b>Mask builder</b>: lengths separated by commas (above: the default)", controls,
                  draw_mask, defaults, interactive)


# --- chapter 09: two models' top-10 lists side by side ---------------------------------------------------

def compare_top_k(models: Mapping[str, object], split, user: int, k: int = 10, stage: str = "test",
                  max_len: int = 50) -> pd.DataFrame:
    """Top-``k`` lists of several models for one user (original id), side by side.

    In: ``models`` (label -> trained model), the ``split`` they were trained on, the original
    user id. Out: one row per rank 1..k; per model, columns ``(label, "title")`` and, for the
    "valid"/"test" stages, ``(label, "hit")`` (the item the user really chose next), plus
    ``(label, "in all")``: the item is in every model's list. Each list is
    ``hiercourse.recommend.recommend``'s. Taught in chapter 09.
    """
    from hiercourse.recommend import recommend

    if not models:
        raise ValueError("no models to compare: pass {label: model}.")
    lists = {label: recommend(model, split, int(user), k=k, stage=stage, max_len=max_len)
             for label, model in models.items()}
    common = set.intersection(*(set(table["item"]) for table in lists.values()))
    columns = {}
    for label, table in lists.items():
        table = table.set_index("rank").reindex(range(1, k + 1))
        columns[(label, "title")] = table["title"]
        if "hit" in table:
            columns[(label, "hit")] = table["hit"]
        columns[(label, "in all")] = table["item"].isin(common)
    out = pd.DataFrame(columns)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    out.index.name = "rank"
    return out


def top_k_explorer(models: Mapping[str, object], split, users=None, k: int = 10, stage: str = "test",
                   max_len: int = 50, interactive: bool | None = None):
    """Pick a user -> their last items and the top-``k`` lists of two (or more) models side by side.

    ``users``: original user ids (default: the first 20). Displays the first user's
    :func:`compare_top_k` (the static view); with a widget frontend (or ``interactive=True``)
    returns an :class:`Explorer` (control ``user``), else None. Taught in chapter 09.
    """
    if users is None:
        users = split.idmap.decode_users(np.arange(min(20, split.n_users)))
    users = [int(u) for u in users]
    if not users:
        raise ValueError("no users to explore: pass original user ids.")
    titles = split.items.set_index("idx")["title"]

    def draw(user: int):
        code = int(split.idmap.encode_users([user])[0])
        cut = {"test": 1, "valid": 2}.get(stage, 0)
        seen = split.seq[split.offsets[code]:split.offsets[code + 1] - cut]
        label = {"test": "before the test item", "valid": "before the validation item"}.get(stage, "")
        print(f"user {user}, last items {label}: " + "; ".join(titles.loc[seen[-4:]]))
        return None, compare_top_k(models, split, user, k, stage, max_len)

    def controls():
        import ipywidgets as w
        return {"user": w.Dropdown(options=[(f"user {u}", u) for u in users], value=users[0], description="User")}

    return _start("<b>Top-10 side by side</b>: pick another user (above: the first one)", controls, draw,
                  dict(user=users[0]), interactive)


def why_report(model, split, user: int, item: int | None = None, stage: str = "test", k: int = 10,
               max_len: int = 50, top_evidence: int = 3) -> dict[str, Any]:
    """``user_report`` plus "why this item": the score parts of the top-``k`` list and the evidence for one item.

    ``user``: an encoded user; ``item``: an item code of the list (default: the first). Returns a
    dict: ``figure`` (the interest tree), ``top`` (``user_report``'s table joined with the
    ``explain_scores`` parts of each listed item), ``item`` (the explained item code), ``evidence``
    (``history_attribution`` of that item, ``top_evidence`` rows per level). Taught in chapter 11.
    """
    from .explain import explain_scores, history_attribution, part_columns

    fig, table = user_report(model, split, user, stage, k, max_len)
    titles = split.items.set_index("idx")["title"].reindex(range(split.n_items + 1)).fillna("<pad>").tolist()
    history = split.history(stage, max_len)[user]
    parts = explain_scores(model, history, table["item"].tolist())
    keep = part_columns(parts)
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
