import numpy as np

from benchmarks.build_compare import aucs


def test_aucs_rank_the_held_out_faces_against_all_and_each_real_source():
    p_real = {"real/ffhq/1.jpg": 0.1, "real/yonsei/2.jpg": 0.85, "real/yonsei/3.jpg": 0.95}
    result = aucs(np.array([0.9, 0.8]), p_real, ["real/ffhq/1.jpg", "real/yonsei/2.jpg"])
    assert result == {"all": 0.75, "ffhq": 1.0, "yonsei": 0.5}  # 0.8 < 0.85: one pair of four out of order
