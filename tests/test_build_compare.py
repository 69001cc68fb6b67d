import numpy as np

from benchmarks.build_compare import aucs, family_generators


def test_aucs_rank_the_held_out_faces_against_all_and_each_real_source():
    p_real = {"real/ffhq/1.jpg": 0.1, "real/yonsei/2.jpg": 0.85, "real/yonsei/3.jpg": 0.95}
    source_of = {"real/ffhq/1.jpg": "ffhq", "real/yonsei/2.jpg": "yonsei", "real/yonsei/3.jpg": "yonsei"}
    result = aucs(np.array([0.9, 0.8]), p_real, ["real/ffhq/1.jpg", "real/yonsei/2.jpg"], source_of)
    assert result == {"all": 0.75, "ffhq": 1.0, "yonsei": 0.5}  # 0.8 < 0.85: one pair of four out of order


def test_a_family_is_found_by_its_manifest_name_or_its_short_name():
    generators = np.array(["text-to-image (FLUX.1 pro/dev/schnell, SDXL, DALL-E 3)", "stylegan2", "camera"])
    assert family_generators(generators, "text-to-image").tolist() == [True, False, False]
    assert family_generators(generators, "stylegan2").tolist() == [False, True, False]
    assert not family_generators(generators, "text").any()
