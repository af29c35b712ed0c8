"""The course's references: the papers, books and datasets its chapters rest on, one home for each citation.

Each :class:`Reference` says who wrote what, where and when, what it gives this course and
which chapters use it. ``load_references()`` returns them as a table, ``cite(key)`` one
citation as text, ``references_markdown()`` the appendix's reading list. Taught in chapter 14
(the appendix, which also lists the source article's mis-citations).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class Reference:
    """One work: ``key`` (short id, e.g. ``"kang2018sasrec"``), ``authors`` (as printed in a reference
    list), ``year``, ``title``, ``venue``, ``contributes`` (what the course takes from it) and
    ``chapters`` (two-digit chapter numbers, e.g. ``("07", "09")``). Taught in chapter 14.
    """

    key: str
    authors: str
    year: int
    title: str
    venue: str
    contributes: str
    chapters: tuple[str, ...]


REFERENCES: tuple[Reference, ...] = (
    # books the article recommends (section 7.1), cited in full
    Reference("goodfellow2016deep", "Goodfellow, I., Bengio, Y. and Courville, A.", 2016, "Deep Learning",
              "MIT Press", "the textbook behind the maths chapters: convolution and pooling (its ch. 9), "
              "back-propagation, optimisation", ("04", "05", "06")),
    Reference("qiu2020nndl", "Qiu, X. (邱锡鹏)", 2020, "神经网络与深度学习 (Neural Networks and Deep Learning)",
              "China Machine Press (机械工业出版社)", "a Chinese-language textbook of the same ground, for readers "
              "of the source article", ("04", "05")),
    # the mathematics chapters
    Reference("lecun1998gradient", "LeCun, Y., Bottou, L., Bengio, Y. and Haffner, P.", 1998,
              "Gradient-based learning applied to document recognition", "Proceedings of the IEEE 86(11), 2278-2324",
              "convolutional networks trained by gradient descent (LeNet-5) and the MNIST digits of chapter 06",
              ("04", "06")),
    Reference("dumoulin2016guide", "Dumoulin, V. and Visin, F.", 2016, "A guide to convolution arithmetic for deep "
              "learning", "arXiv:1603.07285", "output sizes with padding, stride and dilation (the formula "
              "`scratch.conv_output_size` implements)", ("04",)),
    Reference("vaswani2017attention", "Vaswani, A., Shazeer, N., Parmar, N., Uszkoreit, J., Jones, L., Gomez, A. N., "
              "Kaiser, Ł. and Polosukhin, I.", 2017, "Attention is all you need",
              "Advances in Neural Information Processing Systems 30 (NIPS 2017)",
              "scaled dot-product and multi-head attention, the 1/sqrt(d_k) scale, masks, the encoder and decoder "
              "blocks with residual connections and layer normalisation", ("05", "07")),
    Reference("ba2016layer", "Ba, J. L., Kiros, J. R. and Hinton, G. E.", 2016, "Layer normalization",
              "arXiv:1607.06450", "the normalisation the article's encoder and decoder formulas leave out",
              ("05",)),
    Reference("he2016deep", "He, K., Zhang, X., Ren, S. and Sun, J.", 2016, "Deep residual learning for image "
              "recognition", "CVPR 2016", "residual connections (x + sublayer(x)) in every Transformer block",
              ("05",)),
    Reference("kingma2015adam", "Kingma, D. P. and Ba, J.", 2015, "Adam: a method for stochastic optimization",
              "ICLR 2015", "the optimiser of the course's training recipe, compared with SGD", ("06", "09")),
    # recommendation: data, baselines, encoders, hierarchy, evaluation
    Reference("harper2015movielens", "Harper, F. M. and Konstan, J. A.", 2015, "The MovieLens datasets: history "
              "and context", "ACM Transactions on Interactive Intelligent Systems 5(4), article 19",
              "the real data of the course (MovieLens latest-small, 100K, 1M)", ("01", "02", "09")),
    Reference("hu2008implicit", "Hu, Y., Koren, Y. and Volinsky, C.", 2008, "Collaborative filtering for implicit "
              "feedback datasets", "ICDM 2008", "why clicks and ratings are treated as implicit positive feedback",
              ("02",)),
    Reference("sarwar2001item", "Sarwar, B., Karypis, G., Konstan, J. and Riedl, J.", 2001, "Item-based "
              "collaborative filtering recommendation algorithms", "WWW 2001",
              "item-to-item similarity, the `itemknn` baseline", ("01", "09")),
    Reference("rendle2009bpr", "Rendle, S., Freudenthaler, C., Gantner, Z. and Schmidt-Thieme, L.", 2009,
              "BPR: Bayesian personalized ranking from implicit feedback", "UAI 2009",
              "the pairwise ranking loss and the matrix-factorisation baseline `bpr`", ("09",)),
    Reference("covington2016deep", "Covington, P., Adams, J. and Sargin, E.", 2016, "Deep neural networks for "
              "YouTube recommendations", "RecSys 2016", "the DNN encoder (averaged history embeddings + MLP, a "
              "softmax over items, sampled in training): `dnn`", ("07", "09")),
    Reference("hidasi2016session", "Hidasi, B., Karatzoglou, A., Baltrunas, L. and Tikk, D.", 2016, "Session-based "
              "recommendations with recurrent neural networks", "ICLR 2016", "the recurrent encoder `gru4rec`",
              ("07", "09")),
    Reference("tang2018caser", "Tang, J. and Wang, K.", 2018, "Personalized top-N sequential recommendation via "
              "convolutional sequence embedding", "WSDM 2018", "the CNN encoder (horizontal and vertical filters "
              "over the recent items): `caser`", ("07", "09")),
    Reference("kang2018sasrec", "Kang, W.-C. and McAuley, J.", 2018, "Self-attentive sequential recommendation",
              "ICDM 2018", "the Transformer encoder (causal self-attention over the history): `sasrec`",
              ("07", "09")),
    Reference("zhou2018din", "Zhou, G. et al.", 2018, "Deep interest network for click-through rate prediction",
              "KDD 2018", "attention that pools a user's behaviours into an interest vector, as the "
              "hierarchical model does per node", ("08",)),
    Reference("li2019mind", "Li, C. et al.", 2019, "Multi-interest network with dynamic routing for recommendation "
              "at Tmall", "CIKM 2019", "several interest vectors per user instead of one", ("08",)),
    Reference("zhou2020s3rec", "Zhou, K. et al.", 2020, "S3-Rec: self-supervised learning for sequential "
              "recommendation with mutual information maximization", "CIKM 2020", "item attributes (categories) as "
              "a training signal for SASRec; single-digit gains under full ranking, the scale chapter 08's "
              "variants are read against", ("08",)),
    Reference("li2022cafe", "Li, J. et al.", 2022, "Coarse-to-fine sparse sequential recommendation", "SIGIR 2022",
              "the category (intent) sequence as a dense signal and the score as item logit plus category logit: "
              "chapter 08's dense-prior variant", ("08",)),
    Reference("zhu2018tdm", "Zhu, H. et al.", 2018, "Learning tree-based deep model for recommender systems",
              "KDD 2018", "a tree over the items and coarse-to-fine retrieval through it (chapter 13's beam search)",
              ("08", "13")),
    Reference("yi2019sampling", "Yi, X. et al.", 2019, "Sampling-bias-corrected neural modeling for large corpus "
              "item recommendations", "RecSys 2019", "the log-q correction of the sampled softmax in the "
              "training recipe", ("09",)),
    Reference("krichene2020sampled", "Krichene, W. and Rendle, S.", 2020, "On sampled metrics for item "
              "recommendation", "KDD 2020", "why the course ranks every item: metrics over 100 sampled items "
              "can reverse model rankings", ("09",)),
    # the tools the article recommends (section 7.2)
    Reference("paszke2019pytorch", "Paszke, A. et al.", 2019, "PyTorch: an imperative style, high-performance deep "
              "learning library", "NeurIPS 2019", "the framework every chapter uses", ("00", "04", "05", "06")),
    Reference("abadi2016tensorflow", "Abadi, M. et al.", 2016, "TensorFlow: a system for large-scale machine "
              "learning", "OSDI 2016", "the other framework the article names (not used here)", ()),
    # at scale (chapter 13): the systems beside the course's own code
    Reference("johnson2019faiss", "Johnson, J., Douze, M. and Jégou, H.", 2019, "Billion-scale similarity search with "
              "GPUs", "IEEE Transactions on Big Data 7(3), 535-547 (online 2019, in print 2021)",
              "FAISS, the inner-product index library (IVF-Flat, HNSW) the item tree is measured against", ("13",)),
    Reference("malkov2020hnsw", "Malkov, Y. A. and Yashunin, D. A.", 2020, "Efficient and robust approximate nearest "
              "neighbor search using hierarchical navigable small world graphs", "IEEE Transactions on Pattern "
              "Analysis and Machine Intelligence 42(4), 824-836", "HNSW, the graph index FAISS builds (efSearch, M)",
              ("13",)),
    Reference("li2020pytorchddp", "Li, S. et al.", 2020, "PyTorch Distributed: experiences on accelerating data "
              "parallel training", "Proceedings of the VLDB Endowment 13(12), 3005-3018",
              "DistributedDataParallel: gradients averaged by all-reduce in buckets, overlapped with the backward "
              "pass (training on several workers)", ("13",)),
    Reference("zaharia2016spark", "Zaharia, M. et al.", 2016, "Apache Spark: a unified engine for big data processing",
              "Communications of the ACM 59(11), 56-65", "the cluster engine a learner moves to when a log outgrows "
              "one machine", ("13",)),
)

_BY_KEY = {ref.key: ref for ref in REFERENCES}


def load_references() -> pd.DataFrame:
    """Every reference as a table, in the order above (books, maths, recommendation, tools).

    Out: one row per work, columns ``key``, ``authors``, ``year`` (int), ``title``, ``venue``,
    ``contributes``, ``chapters`` (a comma-separated string, ``""`` when no chapter uses it).
    Taught in chapter 14.
    """
    rows = [{**asdict(ref), "chapters": ", ".join(ref.chapters)} for ref in REFERENCES]
    return pd.DataFrame(rows)


def cite(key: str) -> str:
    """One reference as text: ``"Authors (year). Title. Venue."``; ``KeyError`` naming the known keys
    when ``key`` is unknown. Taught in chapter 14.
    """
    try:
        ref = _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no reference {key!r}; known: {', '.join(sorted(_BY_KEY))}") from None
    return f"{ref.authors} ({ref.year}). {ref.title}. {ref.venue}."


def references_markdown(table: pd.DataFrame | None = None) -> str:
    """A Markdown table of the references (``load_references()`` or a subset of its rows).

    Out: header ``| reference | what this course takes from it | chapters |`` and one line per
    work, the reference cell being ``cite(key)``; ends in a newline. Taught in chapter 14.
    """
    table = load_references() if table is None else table
    lines = ["| reference | what this course takes from it | chapters |", "|---|---|---|"]
    for row in table.itertuples(index=False):
        cells = (cite(row.key), row.contributes, row.chapters or "–")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
