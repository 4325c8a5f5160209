import numpy as np
import pytest
from PIL import Image

from zsseg import ZsegError
from zsseg.image_io import load_image, write_atomically


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "1", "I;16", "I"])
def test_modes_convert_to_rgb(tmp_path, mode):
    arr = (np.arange(12 * 10) % 251).reshape(10, 12).astype(np.uint8)
    img = (
        Image.fromarray(arr).convert(mode)
        if mode not in ("I;16", "I")
        else Image.fromarray((arr.astype(np.uint16) * 257))
    )
    if mode == "I":
        img = img.convert("I")
    path = tmp_path / f"x.{'tif' if mode in ('CMYK', 'I') else 'png'}"
    img.save(path)
    out = load_image(path)
    assert out.shape == (10, 12, 3) and out.dtype == np.uint8


def test_16bit_scaled_not_clipped(tmp_path):
    arr = np.full((4, 4), 65535, np.uint16)
    Image.fromarray(arr).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").min() == 255


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello")
    with pytest.raises(ZsegError, match="not an image"):
        load_image(p)


def test_truncated(tmp_path):
    p = tmp_path / "t.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(p, quality=95)
    p.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(ZsegError, match="truncated"):
        load_image(p)


def test_missing_and_folder(tmp_path):
    with pytest.raises(ZsegError, match="no such file"):
        load_image(tmp_path / "none.png")
    with pytest.raises(ZsegError, match="is a folder"):
        load_image(tmp_path)


def test_pixel_limit(tmp_path):
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(ZsegError, match="over the limit"):
        load_image(tmp_path / "big.png", max_pixels=50_000)


def test_arrays():
    assert load_image(np.zeros((5, 6), np.uint8)).shape == (5, 6, 3)
    assert load_image(np.ones((5, 6, 4), np.float32)).max() == 255
    with pytest.raises(ZsegError, match="expected an image array"):
        load_image(np.zeros((2, 3, 4, 5)))


def test_write_atomically_all_or_nothing(tmp_path):
    def fail(p):
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically({tmp_path / "a.txt": lambda p: p.write_text("a"), tmp_path / "b.txt": fail})
    assert list(tmp_path.iterdir()) == []
    write_atomically({tmp_path / "a.txt": lambda p: p.write_text("a")})
    assert (tmp_path / "a.txt").read_text() == "a" and len(list(tmp_path.iterdir())) == 1
