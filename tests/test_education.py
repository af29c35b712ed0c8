"""The synthetic online school: the right sizes, a nested catalogue, lessons in order, data driven by its truth.

Each behavioural test cites the step of ``make_courses``' docstring it follows from.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiercourse.datasets.education import PRESETS, make_courses
from hiercourse.datasets.schema import PATH_SEP, DataError, tidy_interactions, tidy_items
from hiercourse.preprocessing import collapse_repeats, leave_one_out


def codes(data):
    """(learner row, item row) of every interaction, in the truth's indexing."""
    truth = data.truth
    user = np.searchsorted(truth["user_ids"], data.interactions["user"].to_numpy())
    item = np.searchsorted(truth["item_ids"], data.interactions["item"].to_numpy())
    return user, item


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_courses("tiny", seed=1), make_courses("tiny", seed=1), make_courses("tiny", seed=2)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    np.testing.assert_array_equal(a.truth["course_weights"], b.truth["course_weights"])
    assert not a.interactions[["user", "item"]].equals(c.interactions[["user", "item"]])


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_shapes_and_schema(size):
    n_learners, n_subjects, per_subject, per_course, _ = PRESETS[size]
    data = make_courses(size, seed=0)
    assert data.name == "courses" and data.info["level_names"] == ["subject", "course"]
    pd.testing.assert_frame_equal(tidy_interactions(data.interactions), data.interactions)
    pd.testing.assert_frame_equal(tidy_items(data.items), data.items)
    assert len(data.items) == n_subjects * per_subject * per_course
    assert data.items["category_path"].nunique() == n_subjects * per_subject
    truth = data.truth
    assert truth["course_weights"].shape == (n_learners, n_subjects * per_subject)
    assert truth["subject_weights"].shape == (n_learners, n_subjects)
    np.testing.assert_allclose(truth["course_weights"].sum(1), 1.0)
    np.testing.assert_array_equal(truth["goal_subject"], truth["subject_weights"].argmax(1))
    assert set(data.interactions["item"]) <= set(data.items["item"])
    assert set(data.interactions["event"].astype(str)) == {"view"}


def test_hierarchy_is_nested_and_matches_the_truth():
    data = make_courses("small", seed=0)
    truth = data.truth
    subject, course = zip(*(path.split(PATH_SEP) for path in data.items["category_path"]))
    # every course sits in exactly one subject
    assert pd.DataFrame({"s": subject, "c": course}).groupby("c")["s"].nunique().max() == 1
    # the item table's paths are the truth's: item j is in course item_course[j] of subject course_subject[...]
    names = np.array(truth["course_names"], dtype=object)
    assert (data.items["category_path"].to_numpy() == names[truth["item_course"]]).all()
    assert [s for s, _ in (n.split(PATH_SEP) for n in names)] == [
        truth["subject_names"][k] for k in truth["course_subject"]]
    assert (data.items["categories"].to_numpy() == pd.Series([(s,) for s in subject]).to_numpy()).all()


def test_lessons_follow_course_order():
    # step 4: from where the learner stopped, forward only; with skip = 0 one lesson at a time, so the
    # positions a learner takes in a course are exactly 0, 1, 2, ... in time order
    data = make_courses("small", seed=0, skip=0.0)
    user, item = codes(data)
    frame = pd.DataFrame({"u": user, "c": data.truth["item_course"][item], "p": data.truth["item_lesson"][item]})
    for _, group in frame.groupby(["u", "c"]):
        assert group["p"].tolist() == list(range(len(group)))
    # with skips the positions still only go up, by 1 or 2 (one skipped lesson per step at most)
    data = make_courses("small", seed=0, skip=0.3)
    user, item = codes(data)
    frame = pd.DataFrame({"u": user, "c": data.truth["item_course"][item], "p": data.truth["item_lesson"][item]})
    gaps = frame.groupby(["u", "c"])["p"].diff().dropna()
    assert set(gaps.unique()) <= {1.0, 2.0} and (gaps == 2).mean() > 0.1
    # no learner takes a lesson twice, so merging back-to-back repeats changes nothing
    assert len(collapse_repeats(data.interactions)) == len(data.interactions)


def test_enrolments_follow_the_goals():
    # steps 2-3: with noise = 0 a learner enrols only in courses of positive goal weight, unless every goal
    # course is finished; with courses of 2,000 lessons (more than the most active learner takes) nobody
    # finishes one, so every lesson is a goal course's
    data = make_courses("small", seed=0, noise=0.0, lessons_per_course=2_000, n_learners=300)
    assert data.interactions.groupby("user").size().max() < 2_000
    user, item = codes(data)
    weights = data.truth["course_weights"][user, data.truth["item_course"][item]]
    assert (weights > 0).all()
    # with noise = 1 enrolments ignore the goals: about (1 - goal courses / all courses) of the first
    # lessons fall outside them (binomial, 5 standard errors of tolerance)
    data = make_courses("small", seed=0, noise=1.0, persist=0.0, lessons_per_course=200, n_learners=300)
    user, item = codes(data)
    truth = data.truth
    first = data.truth["item_lesson"][item] == 0  # an enrolment: a course's first lesson
    outside = truth["course_weights"][user[first], truth["item_course"][item[first]]] == 0
    p = 1 - (truth["course_weights"][user[first]] > 0).sum(1) / truth["course_weights"].shape[1]
    assert abs(outside.mean() - p.mean()) < 5 * np.sqrt((p * (1 - p)).sum()) / len(p)


def test_persist_keeps_learners_on_one_course():
    # step 3: with persist = 1 a learner goes on with the course in progress until it is finished; with
    # courses too long to finish, every learner takes lessons of exactly one course
    data = make_courses("small", seed=0, persist=1.0, lessons_per_course=500, n_learners=200)
    user, item = codes(data)
    assert pd.Series(data.truth["item_course"][item]).groupby(user).nunique().max() == 1


def test_goal_shares_match_the_lessons_taken():
    # the subject of a learner's enrolments is drawn from the goal weights (step 3), so over many
    # learners the share of first lessons in each subject tracks the mean subject weight of those learners
    data = make_courses("medium", seed=0, noise=0.0, lessons_per_course=200)
    user, item = codes(data)
    truth = data.truth
    first = truth["item_lesson"][item] == 0
    subject = truth["course_subject"][truth["item_course"][item[first]]]
    observed = np.bincount(subject, minlength=len(truth["subject_names"])) / first.sum()
    expected = truth["subject_weights"][user[first]].mean(0)
    np.testing.assert_allclose(observed, expected, atol=0.02)


def test_splits_into_a_two_level_hierarchy():
    split = leave_one_out(make_courses("tiny", seed=0))
    assert split.level_names == ["subject", "course"]
    assert split.item_paths.shape == (split.n_items + 1, 2)
    # course nodes nest in subject nodes: one subject per course
    paths = pd.DataFrame(split.item_paths[1:], columns=["s", "c"])
    assert paths.groupby("c")["s"].nunique().max() == 1


def test_bad_arguments_are_explained():
    with pytest.raises(DataError, match="size"):
        make_courses("huge")
    with pytest.raises(DataError, match="persist"):
        make_courses("tiny", persist=1.5)
    with pytest.raises(DataError, match="n_learners"):
        make_courses("tiny", n_learners=0)
