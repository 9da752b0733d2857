from collections import Counter

import numpy as np
import pytest

from models.engine.token_sampler import SamplingOptions, TokenSampler, top_k_ids


def test_greedy_takes_the_best_token():
    logits = np.array([0.1, 2.0, 1.0], np.float32)
    assert TokenSampler(SamplingOptions(greedy=True, repetition_penalty=1.0), None).pick(logits, Counter(), 0) == 1


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = np.array([1.0, 1.02, -1.0, -1.01], np.float32)
    s = TokenSampler(SamplingOptions(greedy=True, repetition_penalty=1.05), None)
    assert s.pick(logits, Counter(), 0) == 1
    assert s.pick(logits, Counter({1: 3}), 0) == 0  # 1.02 / 1.05 < 1.0
    only_negative = np.array([-1.0, -1.01], np.float32)
    assert s.pick(only_negative, Counter({0: 1}), 0) == 1  # -1.0 * 1.05 < -1.01
    assert logits[1] == np.float32(1.02)  # the caller's logits are untouched


def test_talk_more_threshold_rises_with_each_token():
    # silence (id 0) has probability ~0.58 here
    logits = np.log(np.array([0.58, 0.42], np.float32))
    s = TokenSampler(SamplingOptions(greedy=True, repetition_penalty=1.0, talk_more_base=0.5, talk_more_step=0.05), 0)
    assert s.pick(logits, Counter(), 0) == 0  # 0.58 > 0.50: silence allowed
    assert s.pick(logits, Counter(), 2) == 1  # 0.58 <= 0.60: silence suppressed


def test_sampling_is_seeded_and_respects_top_k():
    logits = np.log(np.array([0.3, 0.3, 0.2, 0.2], np.float32))
    opts = SamplingOptions(temperature=1.0, top_k=2, top_p=1.0, seed=3, repetition_penalty=1.0)
    a = [TokenSampler(opts, None).pick(logits, Counter(), 0) for _ in range(5)]
    s1, s2 = TokenSampler(opts, None), TokenSampler(opts, None)
    draws1 = [s1.pick(logits, Counter(), 0) for _ in range(200)]
    draws2 = [s2.pick(logits, Counter(), 0) for _ in range(200)]
    assert draws1 == draws2 and set(draws1) == {0, 1} and len(set(a)) == 1


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = np.log(np.array([0.6, 0.3, 0.1], np.float32))
    s = TokenSampler(SamplingOptions(temperature=1.0, top_k=0, top_p=0.5, seed=0, repetition_penalty=1.0), None)
    assert {s.pick(logits, Counter(), 0) for _ in range(100)} == {0}


@pytest.mark.parametrize("n", [1, 7, 600, 152_064])
@pytest.mark.parametrize("ties", [False, True])
def test_top_k_ids_are_exactly_the_k_largest(n, ties):
    rng = np.random.default_rng(n)
    for k in (1, 5, 40, 700):
        scores = rng.normal(size=n).astype(np.float32)
        if ties:
            scores = np.round(scores, 1)  # many equal scores around the cut
        ids = top_k_ids(scores, k)
        assert len(ids) == min(k, n) == len(set(ids.tolist()))
        assert np.array_equal(np.sort(scores[ids]), np.sort(scores)[n - min(k, n) :])


def test_top_k_ids_when_the_best_scores_all_sit_in_one_stretch():
    scores = np.zeros(152_064, np.float32)
    scores[1000:1040] = np.arange(1, 41)  # invisible to a sample of every 16th score but a few
    assert sorted(top_k_ids(scores, 40).tolist()) == list(range(1000, 1040))
