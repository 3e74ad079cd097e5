"""The first stage's ranking score: a pair's cosine beside its two questions' usual closeness."""

import numpy as np
import pytest

from quoradesk.core.search.margins import margin_scores, usual_closeness

# Five questions: 0-1 close and each other's best, 2-3 close, 0-2 and 1-2 weaker; 4 in no pair.
A = np.array([0, 0, 1, 2])
B = np.array([1, 2, 2, 3])
COS = np.array([0.9, 0.5, 0.4, 0.8], dtype=np.float32)


def test_usual_closeness_is_the_mean_of_each_questions_two_best_scores():
    got = usual_closeness(A, B, COS, 5)
    assert got == pytest.approx([(0.9 + 0.5) / 2, (0.9 + 0.4) / 2, (0.8 + 0.5) / 2, 0.8, 0.0])


def test_margin_scores_raise_pairs_closer_than_their_questions_usual_and_lower_the_rest():
    got = margin_scores(A, B, COS, 5)
    usual = np.array([0.7, 0.65, 0.65, 0.8])
    want = COS + (COS - (usual[A] + usual[B]) / 2)
    assert got == pytest.approx(want, abs=1e-6)
    assert got[0] > COS[0] and got[2] < COS[2]
    # weight 0 is the cosine itself; weight scales the margin
    assert margin_scores(A, B, COS, 5, weight=0) == pytest.approx(COS)
    assert margin_scores(A, B, COS, 5, weight=0.5) == pytest.approx(COS + 0.5 * (want - COS), abs=1e-6)
    assert margin_scores(A[:0], B[:0], COS[:0], 5).shape == (0,)


def test_a_pair_whose_question_has_a_closer_match_falls_below_a_lone_close_pair():
    """Question 1 has a much closer match (7) than question 0; 5-6 are close to each other alone.
    By cosine 0-1 (0.78) ranks above 5-6 (0.75); beside their neighbours 5-6 comes first."""
    a = np.array([0, 0, 0, 1, 5])
    b = np.array([1, 2, 3, 7, 6])
    cos = np.array([0.78, 0.77, 0.76, 0.95, 0.75], dtype=np.float32)
    got = margin_scores(a, b, cos, 8)
    assert cos[0] > cos[4] and got[4] > got[0]
    assert got[3] == max(got)  # 1-7: each other's best by far
