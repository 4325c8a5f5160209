import torch

from zsseg.classification import CropConfig, RegionClassifier, build_crops, encode_batched
from zsseg.geometry import box_pixel_counts, expand_box, identical_masks, mask_boxes, window_boxes

from .conftest import ColourBackend


def test_mask_boxes_tight_and_exclusive():
    m = torch.zeros(2, 10, 12, dtype=torch.bool)
    m[0, 2:5, 3:7] = True
    m[1, 9, 11] = True
    assert mask_boxes(m).tolist() == [[3, 2, 7, 5], [11, 9, 12, 10]]


def test_expand_box_like_zsseg():
    assert expand_box((10, 10, 20, 30), 1.0, 100, 100) == (10, 10, 20, 30)
    assert expand_box((10, 10, 20, 30), 2.0, 100, 100) == (5, 0, 25, 40)
    assert expand_box((0, 0, 10, 10), 3.0, 12, 12) == (0, 0, 12, 12)  # clipped to the image


def test_masked_crop_fills_background_with_mean_and_normalises():
    img = torch.zeros(3, 8, 8)
    img[0] = 255.0  # pure red image
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2:6, 2:4] = True
    mask[0, 2, 5] = True  # box spans x 2..5, y 2..5 -> a 4x4 crop
    mean, std = (0.5, 0.25, 0.5), (0.5, 0.5, 0.25)
    crop = build_crops(img, mask, 4, mean, std, style="masked")
    assert crop.shape == (1, 3, 4, 4)
    # inside the mask: (255 - 127.5) / 127.5 = 1 on red, (0 - 63.75) / 127.5 = -0.5 on green
    assert torch.allclose(crop[0, 0, 0:4, 0:2], torch.ones(4, 2), atol=1e-5)
    assert torch.allclose(crop[0, 1, 0:4, 0:2], torch.full((4, 2), -0.5), atol=1e-5)
    # outside the mask the fill is the mean, i.e. exactly 0 after normalisation
    assert torch.allclose(crop[0, :, 1, 2], torch.zeros(3), atol=1e-5)
    assert torch.allclose(crop[0, :, 0, 3], torch.tensor([1.0, -0.5, -2.0]), atol=1e-5)


def test_context_crop_keeps_pixels_and_resizes_bicubic_without_keeping_aspect():
    img = torch.arange(3 * 20 * 40, dtype=torch.float32).view(3, 20, 40)
    mask = torch.zeros(1, 20, 40, dtype=torch.bool)
    mask[0, 5:15, 10:30] = True
    crop = build_crops(img, mask, 7, (0, 0, 0), (1 / 255, 1 / 255, 1 / 255), style="context", context=0.1)
    assert crop.shape == (1, 3, 7, 7)  # 20x10 box (+10 % each side) squashed to a square
    ref = torch.nn.functional.interpolate(img[None, :, 4:16, 8:32], size=(7, 7), mode="bicubic", align_corners=False)
    assert torch.allclose(crop, ref)


def test_window_boxes_cover_the_image():
    boxes = window_boxes(30, 50, (0.5, 1.0))
    cover = torch.zeros(30, 50, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= 50 and 0 <= y0 < y1 <= 30
        cover[y0:y1, x0:x1] = True
    assert cover.all()


def test_region_classifier_batches_and_skips_empty_masks(colour_backend):
    img = torch.zeros(3, 16, 16)
    masks = torch.zeros(5, 16, 16)
    masks[0, :8] = 1.0
    masks[2, 8:] = 0.9
    masks[3] = 0.3  # below threshold everywhere -> skipped
    clf = RegionClassifier(colour_backend, CropConfig(style="masked", batch_size=1))
    emb, valid, n = clf.embed(img, masks)
    assert valid.tolist() == [True, False, True, False, False]
    assert emb.shape == (2, 3) and n == 2 and colour_backend.calls == 2


def test_box_pixel_counts_equal_slice_sums():
    torch.manual_seed(0)
    masks = torch.rand(6, 37, 53) > 0.6
    boxes = window_boxes(37, 53, (0.3, 0.5, 1.0)) + [(0, 0, 1, 1), (52, 36, 53, 37), (5, 7, 40, 30)]
    expected = torch.stack([masks[:, y0:y1, x0:x1].flatten(1).sum(1) for (x0, y0, x1, y1) in boxes], dim=1).float()
    assert torch.equal(box_pixel_counts(masks, boxes), expected)


class _ReportsCuda(ColourBackend):
    """The colour backend claiming to sit on a GPU, to test the GPU-only batching logic on a CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []

    @property
    def device(self) -> torch.device:
        return torch.device("cuda")

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(pixels))
        return super().encode_images(pixels)


def test_gpu_batches_are_padded_to_powers_of_two_and_trimmed():
    gpu, cpu = _ReportsCuda(), ColourBackend()
    crops = torch.randn(11, 3, 16, 16)
    out = encode_batched(gpu, crops, 8)
    assert gpu.batch_sizes == [8, 4]  # 11 = 8 + 3, the 3 padded to 4 (shapes repeat across images)
    assert torch.allclose(out, encode_batched(cpu, crops, 8)) and out.shape == (11, 3)


def test_gpu_segmenter_batches_64_crops():
    from zsseg.config import GPU_BATCH_SIZE, SegmenterConfig
    from zsseg.proposals import GraphProposals
    from zsseg.segmenter import Segmenter
    from zsseg.text_cache import TextEmbeddingCache

    assert (
        Segmenter(_ReportsCuda(), GraphProposals(), SegmenterConfig(), TextEmbeddingCache(None)).crop.batch_size
        == GPU_BATCH_SIZE
        == 64
    )
    assert (
        Segmenter(ColourBackend(), GraphProposals(), SegmenterConfig(), TextEmbeddingCache(None)).crop.batch_size
        == ColourBackend.default_batch_size
    )
    assert (
        Segmenter(
            _ReportsCuda(), GraphProposals(), SegmenterConfig(batch_size=5), TextEmbeddingCache(None)
        ).crop.batch_size
        == 5
    )


def test_identical_masks_share_one_crop():
    torch.manual_seed(0)
    base = torch.rand(4, 24, 32) > 0.5
    masks = torch.stack([base[0], base[1], base[0], base[2], base[1], base[3]])
    distinct, twin = identical_masks(masks)
    assert distinct.tolist() == [0, 1, 3, 5] and twin.tolist() == [0, 1, 0, 2, 1, 3]
    assert identical_masks(base) is None  # all different: nothing to share
    image = torch.randint(0, 256, (3, 24, 32), dtype=torch.uint8)
    backend = ColourBackend()
    reuse = RegionClassifier(backend, CropConfig(style="masked", batch_size=2))
    emb, valid, n = reuse.embed(image, masks.float())
    ref, _, n_ref = RegionClassifier(backend, CropConfig(style="masked", batch_size=2, reuse_identical=False)).embed(
        image, masks.float()
    )
    assert (n, n_ref) == (4, 6) and valid.all() and torch.equal(emb, ref)


def test_same_shape_groups():
    from zsseg.geometry import same_shape_groups

    assert same_shape_groups([(4, 6, 3), (6, 4, 3), (4, 6, 3), (1, 3, 4, 6)]) == [[0, 2], [1], [3]]
    assert same_shape_groups([]) == []
