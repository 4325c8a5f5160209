import numpy as np
import pytest
import torch

from zsseg import ZsegError
from zsseg.proposals import GraphProposals, MaskFilter, SlicProposals, build_proposals


def test_mask_filter_drops_tiny_duplicates_and_caps():
    masks = torch.zeros(5, 10, 10)
    masks[0, :5] = 1  # 50 px
    masks[1, :5, :9] = 1  # 45 px, IoU 0.9 with mask 0 -> duplicate
    masks[2, 5:] = 1  # 50 px
    masks[3, 9, 9] = 1  # 1 px -> tiny
    masks[4, :, :3] = 1  # 30 px
    keep = MaskFilter(min_area=0.05, dedup_iou=0.85, max_masks=10)(masks)
    assert sorted(keep.tolist()) == [0, 2, 4]
    assert MaskFilter(min_area=0.05, dedup_iou=0.85, max_masks=2)(masks).tolist() == [0, 2]


@pytest.mark.parametrize("gen", [GraphProposals(), SlicProposals()])
def test_generators_return_masks_of_image_size(gen, two_colour_image):
    props = gen(two_colour_image)
    assert props.masks.shape[1:] == two_colour_image.shape[:2]
    assert 1 <= len(props) <= 100
    assert props.masks.min() >= 0 and props.masks.max() <= 1


def test_graph_separates_the_two_halves(two_colour_image):
    props = GraphProposals()(two_colour_image)
    left = props.masks[:, :, :32].sum((1, 2))
    right = props.masks[:, :, 32:].sum((1, 2))
    assert ((left > 0) & (right > 0)).sum() == 0  # no segment straddles the colour edge


def test_unknown_and_reserved_generators():
    with pytest.raises(ZsegError, match="unknown proposal generator"):
        build_proposals("nope")


def test_blank_image_gives_one_mask():
    props = GraphProposals()(np.zeros((20, 30, 3), np.uint8))
    assert len(props) == 1 and props.masks[0].all()


def dense_segment_masks(label_maps):
    """Every segment of every map as a dense mask, maps in order, ids ascending (the reference)."""
    return torch.cat(
        [torch.from_numpy(lab)[None] == torch.unique(torch.from_numpy(lab))[:, None, None] for lab in label_maps]
    ).float()


def test_label_map_filter_from_joint_histograms_equals_filtering_dense_masks():
    """Graph and SLIC compute the filter's overlaps from label-map histograms; the proposals must be
    exactly those of filtering every segment's dense mask."""
    from skimage import data
    from skimage.segmentation import felzenszwalb, slic

    from zsseg.image_io import resize_short_side

    for image in (resize_short_side(data.astronaut(), 160), resize_short_side(data.coffee(), 160)):
        gen = GraphProposals()
        min_size = max(16, int(gen.filter.min_area * image.shape[0] * image.shape[1]))
        dense = dense_segment_masks(
            [felzenszwalb(image, scale=s, sigma=gen.sigma, min_size=min_size) for s in gen.scales]
        )
        got = gen(image).masks
        assert len(got) > 10 and torch.equal(got, dense[gen.filter(dense)])
        sp = SlicProposals()
        dense = dense_segment_masks(
            [slic(image, n_segments=n, compactness=sp.compactness, start_label=0) for n in sp.n_segments]
        )
        got = sp(image).masks
        assert len(got) > 10 and torch.equal(got, dense[sp.filter(dense)])


def test_mask_filter_that_keeps_everything_only_ranks_by_score():
    torch.manual_seed(0)
    masks = torch.rand(9, 20, 30)
    masks[3] = masks[1]  # a duplicate stays: dedup_iou > 1 never removes one
    scores = torch.rand(9)
    f = MaskFilter(min_area=0.0, dedup_iou=1.01, max_masks=7)
    binary = (masks > 0.5).flatten(1).float()
    full = f.select(binary.sum(1), lambda idx: binary[idx] @ binary[idx].t(), binary.shape[1], scores)
    assert f(masks, scores).tolist() == full.tolist() and len(full) == 7


def test_proposals_select_and_cat_keep_masks_info_and_state_together():
    import torch

    from zsseg.proposals import Proposals

    masks = torch.rand(4, 3, 5)
    props = Proposals(masks, {"predicted_iou": [0.1, 0.2, 0.3, 0.4], "source": "x"}, torch.arange(4.0)[:, None])
    picked = props.select(torch.tensor([True, False, True, False]))
    assert torch.equal(picked.masks, masks[[0, 2]]) and picked.info == {"predicted_iou": [0.1, 0.3], "source": "x"}
    assert picked.state.flatten().tolist() == [0.0, 2.0]
    assert props.select(torch.tensor([3, 1])).info["predicted_iou"] == [0.4, 0.2]
    both = Proposals.cat([picked, props.select(torch.tensor([3]))])
    assert (
        len(both) == 3
        and both.info == {"predicted_iou": [0.1, 0.3, 0.4]}
        and both.state.flatten().tolist() == [0, 2, 3]
    )
