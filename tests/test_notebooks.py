"""Every chapter runs top to bottom under papermill in fast mode, and its recorded results hold.

The nbval half of the notebook tests (outputs match the committed ones) runs from
``course.py test`` (``--nbval notebooks``); this file asserts the numbers each
chapter records with ``hiercourse.notebook.record`` (microsoft/recommenders style).
"""
from __future__ import annotations

import math

import papermill as pm
import pytest

from hiercourse.notebook import read_records
from hiercourse.run import chapters

# name -> (low, high) or exact value; every chapter must record each listed name.
EXPECTED: dict[str, dict[str, object]] = {
    "00_start_here": {
        "python_ok": True,
        "unneeded_frameworks_loaded": [],
        "registered_datasets": ["ml-100k", "ml-1m", "ml-latest-small", "mnist", "shop"],
        "seeded_draws_identical": True,
    },
    "01_recommenders_and_hierarchical_interests": {
        "n_users": 610,
        "n_interactions": 100_836,
        "n_rated_items": 9_724,
        "n_movies": 9_742,
        "content_median_ties_with_target": (1, 1_000),
        "shop_n_users": 1_000,
    },
    "02_data_collection_and_preprocessing": {
        "ml_n_users": 610,
        "ml_n_interactions": 100_836,
        "implicit_ratings_ge_4": 48_580,
        "kcore5_ratings": 90_274,
        "kcore5_users": 610,
        "kcore5_films": 3_650,
        "split_n_users": 610,
        "split_train_interactions": 99_616,
        "bad_log_error_names_user": True,
    },
    "03_feature_engineering": {
        "genre_vocabulary_size": 19,
        "shop_n_categories": 30,
        "events_vs_true_activity_spearman": (0.6, 1.0),
        "ml_item_gini": (0.6, 0.8),
    },
    "04_cnn_mathematics": {},
    "05_transformer_mathematics": {},
    "06_mnist_cnn": {
        "article_forward_fails": True,
        "corrected_parameters": 421_738,
        "epochs": 1,
        "n_train": (1_000, 8_000),
        "n_test": (2_000, 10_000),
        "accuracy": (0.9, 1.0),  # seed 0 gives 0.963-0.965; chance is 0.1
    },
    "07_encoding_user_interests": {  # synthetic shop, fast mode: a few epochs per encoder
        "ndcg@10": {
            "most popular": (0.03, 0.12),
            "DNN (mean + MLP)": (0.2, 0.6),
            "Transformer (SASRec)": (0.1, 0.5),
            "CNN (Caser)": (0.08, 0.4),
        },
    },
    "08_hierarchical_interest_model": {
        "test_ndcg@10": {
            "most popular": (0.03, 0.1),
            "SASRec": (0.05, 0.4),
            "hierarchical (SASRec encoder)": (0.4, 0.8),  # learns far faster per epoch than SASRec
        },
        "interest_recovery": {
            "department": {"next_node_acc_beta": (0.8, 1.0), "spearman_beta": (0.4, 1.0)},
            "category": {"next_node_acc_beta": (0.6, 1.0), "spearman_beta": (0.2, 1.0)},
        },
        "learned_tree": {"ari": {"co-occurrence (SVD)": {"category": (0.5, 1.0)}}},
    },
    "09_training_evaluation_recommendation": {  # fast mode: 200 users of ml-latest-small and their 5-core
        "n_users": 200,
        "n_items": 1_730,
        "recommend_rows": 30,
        "sampled_order_differs": True,
        "benchmarks_loaded": ["ml-latest-small", "shop"],
        "protocol_ndcg": {"most popular": (0.02, 0.06), "item-KNN": (0.015, 0.08)},
        "loss_ndcg": {"cross-entropy (all items)": (0.01, 0.1)},
    },
}


def _check(name: str, value: object, expected: object) -> None:
    if isinstance(expected, dict):  # nested records: check each listed key
        assert isinstance(value, dict), f"{name}={value!r} is not a mapping"
        for key, inner in expected.items():
            assert key in value, f"{name} has no {key!r} (has {sorted(value)})"
            _check(f"{name}/{key}", value[key], inner)
        return
    if isinstance(expected, tuple):
        low, high = expected
        assert isinstance(value, (int, float)) and not math.isnan(value), f"{name}={value!r} is not a number"
        assert low <= value <= high, f"{name}={value} outside [{low}, {high}]"
    else:
        assert value == expected, f"{name}={value!r}, expected {expected!r}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_runs_in_fast_mode_and_records_results(path, tmp_path, monkeypatch):
    monkeypatch.setenv("HIERCOURSE_FAST", "1")
    out = tmp_path / path.name
    pm.execute_notebook(
        str(path), str(out), parameters={"FAST": True}, cwd=str(path.parent),
        kernel_name="python3", progress_bar=False, request_save_on_cell_execute=False,
    )
    records = read_records(out)
    assert records, f"{path.name} recorded no results"
    for name, expected in EXPECTED.get(path.stem, {}).items():
        assert name in records, f"{path.name} did not record {name!r} (has {sorted(records)})"
        _check(name, records[name], expected)
