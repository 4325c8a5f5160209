"""SAM and Mask2Former proposal generators with randomly initialised models of the real
configurations and tiny ones (no weights can be downloaded here)."""

import sys
import types

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from zsseg import Segmenter, SegmenterConfig, ZsegError
from zsseg.geometry import box_nms, crop_boxes, point_grid
from zsseg.proposals import Mask2FormerProposals, SamProposals, build_proposals
from zsseg.text_cache import TextEmbeddingCache
from zsseg.vocabulary import Vocabulary

TINY_SAM = dict(
    vision_config=dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_dim=64,
        image_size=128,
        patch_size=16,
        output_channels=32,
        window_size=4,
        global_attn_indexes=[1],
        num_pos_feats=16,
    ),
    prompt_encoder_config=dict(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=4),
    mask_decoder_config=dict(
        hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=32
    ),
)


def tiny_sam():
    from transformers import SamConfig, SamImageProcessorPil, SamModel

    torch.manual_seed(0)
    return SamModel(SamConfig(**TINY_SAM)).eval(), SamImageProcessorPil(
        size={"longest_edge": 128}, pad_size={"height": 128, "width": 128}
    )


@pytest.fixture
def small_photo():
    return np.asarray(Image.fromarray(skimage.data.chelsea()).resize((90, 60)))


def test_helpers():
    assert np.allclose(point_grid(2), [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    boxes = crop_boxes(100, 200, 1, 512 / 1500)
    assert boxes[0] == ((0, 0, 200, 100), 0) and len(boxes) == 5 and all(layer == 1 for _, layer in boxes[1:])
    b = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    assert box_nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]


@pytest.fixture
def torchvision_nms_stand_in(monkeypatch):
    """transformers' pipeline imports torchvision only for its final box NMS; give it a stand-in."""
    from transformers import SamImageProcessorPil
    from transformers.models.sam import image_processing_pil_sam as ips

    tv, ops, boxes_module = (types.ModuleType(n) for n in ("torchvision", "torchvision.ops", "torchvision.ops.boxes"))

    def batched_nms(boxes, scores, idxs, iou_threshold):
        assert bool((idxs == idxs[0]).all())  # one category, as the pipeline uses it
        return box_nms(boxes, scores, iou_threshold)

    boxes_module.batched_nms = batched_nms
    for name, mod in (("torchvision", tv), ("torchvision.ops", ops), ("torchvision.ops.boxes", boxes_module)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(
        SamImageProcessorPil,
        "post_process_for_mask_generation",
        lambda self, m, s, b, t: ips._post_process_for_mask_generation(m, s, b, t),
    )


@pytest.mark.parametrize("layers", [0, 1])
def test_sam_matches_transformers_mask_generation_pipeline(torchvision_nms_stand_in, small_photo, layers):
    from transformers import pipeline

    model, proc = tiny_sam()
    pipe = pipeline("mask-generation", model=model, image_processor=proc, device="cpu")
    ref = pipe(
        Image.fromarray(small_photo),
        points_per_batch=7,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        points_per_crop=4,
        crops_n_layers=layers,
        crops_nms_thresh=0.99,
    )
    ref_masks = np.stack([np.asarray(m) for m in ref["masks"]])
    gen = SamProposals(
        _model=model,
        _processor=proc,
        points_per_side=4,
        points_per_batch=5,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        crop_n_layers=layers,
        box_nms_thresh=0.99,
    )
    ours, scores = gen.generate(small_photo)
    assert len(ref_masks) > 3
    assert ref_masks.shape == tuple(ours.shape) and (ref_masks == ours.numpy()).all()
    assert np.allclose(np.asarray(ref["scores"], dtype=np.float32), scores.numpy(), atol=1e-6)


def test_sam_vit_b_configuration_gives_masks_of_image_size(small_photo):
    from transformers import SamConfig, SamImageProcessorPil, SamModel

    torch.manual_seed(0)
    model = SamModel(SamConfig())  # the ViT-B architecture of facebook/sam-vit-base
    assert model.config.vision_config.hidden_size == 768 and model.config.vision_config.num_hidden_layers == 12
    gen = SamProposals(
        _model=model,
        _processor=SamImageProcessorPil(),
        points_per_side=2,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
    )
    props = gen(small_photo)
    assert props.masks.shape[1:] == small_photo.shape[:2] and 1 <= len(props) <= 100
    assert set(torch.unique(props.masks).tolist()) <= {0.0, 1.0}


def test_mask2former_swin_t_configuration_and_class_scores(small_photo):
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    torch.manual_seed(0)
    labels = {0: "cat", 1: "wall-other-merged", 2: "tv"}
    model = Mask2FormerForUniversalSegmentation(
        Mask2FormerConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    ).eval()
    assert model.config.backbone_config.model_type == "swin" and model.config.num_queries == 100
    gen = Mask2FormerProposals(_model=model)
    props = gen(small_photo)
    scores = gen.score(props, Vocabulary.from_lines(["cat", "wall", "dog", "television: monitor; tv"]))
    assert props.masks.shape[1:] == small_photo.shape[:2] and 1 <= len(props) <= 100
    assert scores.probs.shape == (len(props), 4)
    assert scores.seen.tolist() == [True, True, False, True]  # "television" meets the label "tv" through a prompt name
    assert (scores.probs[:, 2] == 1).all()  # no label for "dog": neutral in the geometric ensemble
    assert gen.score(props, Vocabulary.from_names("dog, car")) is None


def test_mask2former_in_the_pipeline(colour_backend, small_photo):
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    torch.manual_seed(0)
    labels = {0: "red", 1: "blue"}
    model = Mask2FormerForUniversalSegmentation(
        Mask2FormerConfig(id2label=labels, label2id={"red": 0, "blue": 1})
    ).eval()
    seg = Segmenter(
        colour_backend, Mask2FormerProposals(_model=model), SegmenterConfig(short_side=60), TextEmbeddingCache(None)
    )
    out = seg(small_photo, "red, blue, green")
    assert out.labels.shape == small_photo.shape[:2] and out.mask_probs.shape[1] == 3


def test_loading_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ZsegError, match="cannot load sam model .*huggingface-cli download"):
        build_proposals("sam", model=str(tmp_path / "missing"))
    from transformers import CLIPConfig, CLIPModel

    CLIPModel(
        CLIPConfig(
            text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
            vision_config=dict(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                image_size=32,
                patch_size=16,
            ),
            projection_dim=8,
        )
    ).save_pretrained(tmp_path / "clip")
    with pytest.raises(
        ZsegError, match="is a 'clip' checkpoint; --proposals mask2former needs one of: mask2former, maskformer"
    ):
        build_proposals("mask2former", model=str(tmp_path / "clip"))
    with pytest.raises(ZsegError, match="--proposals-model is only for"):
        build_proposals("graph", model="x")
