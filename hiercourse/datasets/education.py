"""A synthetic online school: subjects > courses > lessons, learners with goals, and the ground truth.

Built from the same ideas as the synthetic shop (``hiercourse.datasets.shop``): a
taxonomy with popular and unpopular nodes, true interest weights per user (here a
learner's *goals*), heavy-tailed activity, sessions, and a ``truth`` dict that says
what generated every row. What is new is an order: a course's lessons are meant to
be taken one after the other, so the next item depends on where the learner stands
in the course, and a sequence model can learn it. Taught in chapter 10.

How the data is made (a loop over study sessions, each step vectorised over all
learners at once):

1. A catalogue: subjects -> courses -> lessons (``lessons_per_course`` in a fixed
   order). Courses inside a subject have Zipf popularity.
2. Each learner has goals: 1-3 subjects (popular ones more often; Gumbel top-k) with
   Dirichlet(1) weights, and inside each goal subject 1-3 courses with weights
   proportional to Dirichlet(1) draws times the course's popularity. These are the
   true ``course_weights`` (rows sum to 1).
3. A learner has ``1 + Poisson(activity * ...)`` sessions (heavy-tailed activity),
   spread over ``days``. In each session the learner goes on with the course in
   progress with probability ``persist``; otherwise (or with no course in progress)
   they enrol in a course drawn from their goal weights among the courses they have
   not finished (with probability ``noise``: any unfinished course).
4. A session takes ``1 + Poisson(lessons_per_session - 1)`` lessons of that course,
   in order from where the learner stopped; each step skips one lesson with
   probability ``skip``. A finished course ends the session early and is never
   chosen again.

Every lesson taken is one row with event ``"view"``; a learner never takes a lesson
twice, so ``collapse_repeats`` changes nothing.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .schema import EVENTS, INTERACTION_COLUMNS, PATH_SEP, DataError, InteractionData
from .shop import _names, _sample_rows, _top_k_mask

# Subject -> course names; larger catalogues than this get numbered names.
CATALOGUE: dict[str, list[str]] = {
    "Mathematics": ["Algebra", "Calculus", "Statistics", "Geometry", "Linear algebra", "Probability"],
    "Computer science": ["Python basics", "Algorithms", "Databases", "Web development", "Machine learning",
                         "Operating systems"],
    "Languages": ["Spanish", "French", "German", "Mandarin", "Japanese", "Italian"],
    "Science": ["Physics", "Chemistry", "Biology", "Astronomy", "Geology", "Ecology"],
    "Humanities": ["World history", "Philosophy", "Art history", "Literature", "Economics", "Psychology"],
    "Business": ["Accounting", "Marketing", "Management", "Finance", "Negotiation", "Entrepreneurship"],
    "Arts": ["Drawing", "Photography", "Music theory", "Guitar", "Creative writing", "Film making"],
    "Health": ["Nutrition", "First aid", "Yoga", "Anatomy", "Sleep", "Mindfulness"],
}

# name: (n_learners, n_subjects, courses_per_subject, lessons_per_course, lessons_per_learner)
# lessons_per_learner is a mean (activity is heavy-tailed).
PRESETS: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (60, 3, 3, 6, 20),          # unit tests
    "small": (1_000, 6, 5, 12, 40),     # chapter 10
    "medium": (4_000, 8, 6, 16, 40),
}

START = 1_704_067_200   # 2024-01-01 00:00 UTC
LESSON_SECONDS = 900    # a lesson takes 15 minutes
MIN_IDLE = 3_600        # sessions are at least an hour apart


def make_courses(
    size: str = "small",
    seed: int = 0,
    *,
    n_learners: int | None = None,
    n_subjects: int | None = None,
    courses_per_subject: int | None = None,
    lessons_per_course: int | None = None,
    lessons_per_learner: float | None = None,
    lessons_per_session: float = 3.0,
    days: int = 120,
    persist: float = 0.8,
    noise: float = 0.05,
    skip: float = 0.05,
    zipf_exponent: float = 1.0,
) -> InteractionData:
    """Generate the synthetic online school: interactions, lessons, learners and the ground truth.

    ``size`` picks a preset (``"tiny"``, ``"small"``, ``"medium"``; see ``PRESETS``);
    the keyword arguments override it. ``persist`` is P(a session goes on with the
    course in progress), ``noise`` P(an enrolment ignores the goals), ``skip``
    P(a step jumps over one lesson). The same arguments and ``seed`` give the same data.

    ``truth`` holds (row u of a per-learner array is learner ``truth["user_ids"][u]``;
    course k is ``truth["course_names"][k]``): ``course_weights`` [n_learners,
    n_courses] and ``subject_weights`` [n_learners, n_subjects] (the goals; rows sum
    to 1), ``goal_subject`` [n_learners] (the subject of largest weight), ``item_ids``,
    ``item_course`` [n_items], ``item_lesson`` [n_items] (0-based position in its
    course), ``course_subject`` [n_courses], ``course_popularity`` [n_courses]
    (probability within its subject), ``subject_names``, ``course_names`` (full
    paths), ``n_sessions`` [n_learners], ``activity`` [n_learners] and ``params``.

    Returns an ``InteractionData`` named "courses" (one ``"view"`` row per lesson
    taken; items with the path ``subject > course``, titled "<course>, lesson N";
    users; ``truth``; ``info["level_names"] == ["subject", "course"]``).

    Taught in chapter 10.
    """
    if size not in PRESETS:
        raise DataError(f"unknown course-catalogue size {size!r}; choose one of {list(PRESETS)} "
                        "(and override sizes by keyword).")
    preset = PRESETS[size]
    n_users = int(preset[0] if n_learners is None else n_learners)
    n_subj = int(preset[1] if n_subjects is None else n_subjects)
    per_subj = int(preset[2] if courses_per_subject is None else courses_per_subject)
    per_course = int(preset[3] if lessons_per_course is None else lessons_per_course)
    per_user = float(preset[4] if lessons_per_learner is None else lessons_per_learner)
    for name, value in [("n_learners", n_users), ("n_subjects", n_subj),
                        ("courses_per_subject", per_subj), ("lessons_per_course", per_course)]:
        if value < 1:
            raise DataError(f"{name} must be >= 1, got {value}.")
    if per_user <= 0 or lessons_per_session < 1 or days < 1:
        raise DataError("lessons_per_learner must be positive, lessons_per_session >= 1 and days >= 1; got "
                        f"{per_user}, {lessons_per_session} and {days}.")
    if not all(0 <= p <= 1 for p in (persist, noise, skip)):
        raise DataError("persist, noise and skip must lie in [0, 1].")

    rng = np.random.default_rng(seed)
    n_courses, n_items = n_subj * per_subj, n_subj * per_subj * per_course

    # 1. catalogue -------------------------------------------------------------------
    subject_names, course_short = _names(n_subj, per_subj, CATALOGUE, "Subject")
    course_subject = np.repeat(np.arange(n_subj), per_subj)
    zipf = 1.0 / np.arange(1, per_subj + 1) ** zipf_exponent
    zipf /= zipf.sum()
    course_popularity = rng.permuted(np.tile(zipf, (n_subj, 1)), axis=1).ravel()  # ids say nothing
    item_course = np.repeat(np.arange(n_courses), per_course)
    item_lesson = np.tile(np.arange(per_course), n_courses)
    item_ids = np.sort(rng.choice(np.arange(1_000, 1_000 + 10 * n_items), n_items, replace=False))
    user_ids = np.sort(rng.choice(np.arange(1, 1 + 10 * n_users), n_users, replace=False))

    # 2. goals -----------------------------------------------------------------------
    subject_popularity = rng.dirichlet(np.full(n_subj, 2.0))
    n_pick = np.clip(1 + rng.poisson(0.5, n_users), 1, min(3, n_subj))
    subject_on = _top_k_mask(np.log(subject_popularity)[None, :] + rng.gumbel(size=(n_users, n_subj)), n_pick)
    n_course = np.clip(1 + rng.poisson(0.8, (n_users, n_subj)), 1, min(3, per_subj))
    popular = np.log(course_popularity.reshape(n_subj, per_subj))[None]
    course_on = _top_k_mask(popular + rng.gumbel(size=(n_users, n_subj, per_subj)), n_course) & subject_on[:, :, None]
    subject_w = rng.gamma(1.0, size=(n_users, n_subj)) * subject_on
    subject_w /= subject_w.sum(1, keepdims=True)
    course_w = rng.gamma(1.0, size=(n_users, n_subj, per_subj)) * course_popularity.reshape(1, n_subj, per_subj)
    course_w *= course_on
    course_w /= np.maximum(course_w.sum(2, keepdims=True), 1e-300)
    course_weights = (subject_w[:, :, None] * course_w).reshape(n_users, n_courses)

    # 3. sessions: how many and when -------------------------------------------------------
    activity = rng.lognormal(-0.5, 1.0, n_users)  # mean 1, heavy tail
    span = days * 86_400
    slot = int((lessons_per_session + 3 * np.sqrt(lessons_per_session)) * LESSON_SECONDS) + MIN_IDLE
    max_sessions = max(1, int(0.9 * span / slot))
    n_sessions = np.minimum(1 + rng.poisson(activity * max(per_user / lessons_per_session - 1, 0.0)), max_sessions)
    # sorted uniform times (a learner's unused columns sort last), then pushed apart
    u = rng.random((n_users, int(n_sessions.max())))
    u = np.sort(np.where(np.arange(u.shape[1])[None, :] < n_sessions[:, None], u, np.inf), axis=1)
    u[~np.isfinite(u)] = 1.0
    free = span - n_sessions * slot
    session_start = START + (u * free[:, None]).astype(np.int64) + np.arange(u.shape[1])[None, :] * slot

    # 4. the study loop: one step per session index, all learners at once -------------------
    progress = np.zeros((n_users, n_courses), dtype=np.int64)  # lessons done (the next lesson's position)
    current = np.full(n_users, -1)
    rows_user, rows_item, rows_time = [], [], []
    everyone = np.arange(n_users)
    for s in range(int(n_sessions.max())):
        active = everyone[s < n_sessions]
        open_courses = progress[active] < per_course
        has_open = open_courses.any(1)
        active, open_courses = active[has_open], open_courses[has_open]
        if len(active) == 0:
            break
        goes_on = (current[active] >= 0) & (rng.random(len(active)) < persist)
        fresh = rng.random(len(active)) < noise
        weights = np.where(fresh[:, None], 1.0, course_weights[active]) * open_courses
        weights[weights.sum(1) == 0] = open_courses[weights.sum(1) == 0]  # every goal finished: any open course
        chosen = np.where(goes_on, current[active], _sample_rows(rng, weights, np.arange(len(weights))))
        n_lessons = 1 + rng.poisson(lessons_per_session - 1, len(active))
        steps = 1 + (rng.random((len(active), int(n_lessons.max()))) < skip)
        steps[:, 0] = 1  # a session starts at the lesson where the learner stopped
        position = progress[active, chosen][:, None] + np.cumsum(steps, axis=1) - 1
        taken = (np.arange(steps.shape[1])[None, :] < n_lessons[:, None]) & (position < per_course)
        row, col = np.nonzero(taken)
        rows_user.append(active[row])
        rows_item.append(chosen[row] * per_course + position[row, col])
        rows_time.append(session_start[active[row], s] + col * LESSON_SECONDS)
        last = np.where(taken, position, -1).max(1)
        progress[active, chosen] = np.maximum(progress[active, chosen], last + 1)
        current[active] = np.where(progress[active, chosen] < per_course, chosen, -1)

    user = np.concatenate(rows_user)
    item = np.concatenate(rows_item)
    time = np.concatenate(rows_time).astype(np.int64)
    order = np.lexsort((time, user))
    interactions = pd.DataFrame({
        "user": user_ids[user[order]],
        "item": item_ids[item[order]],
        "timestamp": time[order],
        "rating": np.full(len(order), np.nan),
        "event": pd.Categorical.from_codes(np.zeros(len(order), dtype=np.int64), categories=EVENTS),
    })[INTERACTION_COLUMNS]

    flat_courses = np.array([c for courses in course_short for c in courses], dtype=object)
    course_names = [f"{subject_names[course_subject[k]]}{PATH_SEP}{flat_courses[k]}" for k in range(n_courses)]
    items = pd.DataFrame({
        "item": item_ids,
        "title": flat_courses[item_course] + ", lesson " + (item_lesson + 1).astype(str),
        "category_path": np.array(course_names, dtype=object)[item_course],
        "categories": pd.Series([(s,) for s in subject_names], dtype=object).to_numpy()[
            course_subject[item_course]],
    })
    subject_weights = course_weights.reshape(n_users, n_subj, per_subj).sum(2)
    params: dict[str, Any] = dict(
        size=size, seed=seed, n_learners=n_users, n_subjects=n_subj, courses_per_subject=per_subj,
        lessons_per_course=per_course, lessons_per_learner=per_user, lessons_per_session=lessons_per_session,
        days=days, persist=persist, noise=noise, skip=skip, zipf_exponent=zipf_exponent,
    )
    truth = {
        "user_ids": user_ids,
        "item_ids": item_ids,
        "course_weights": course_weights,
        "subject_weights": subject_weights,
        "goal_subject": subject_weights.argmax(1),
        "item_course": item_course,
        "item_lesson": item_lesson,
        "course_subject": course_subject,
        "course_popularity": course_popularity,
        "subject_names": subject_names,
        "course_names": course_names,
        "n_sessions": n_sessions,
        "activity": activity,
        "params": params,
    }
    return InteractionData(
        "courses", interactions, items, pd.DataFrame({"user": user_ids}), truth,
        info={"level_names": ["subject", "course"], "generator": "hiercourse.datasets.education.make_courses"},
    )
