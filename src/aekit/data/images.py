"""Image files and folders (PNG / JPEG / BMP / TIFF) ↔ uint8 arrays ``(N, C, H, W)``.

Grayscale when every image is grayscale, RGB otherwise (alpha dropped). All images must have
one size unless ``image_size`` is given, in which case each is resized (bilinear). A folder
whose images sit in subfolders, one per class (``root/cat/*.png``, ``root/dog/*.png``), gives
labels 0..K-1 in the sorted order of the subfolder names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AekitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def parse_image_size(s: str | int | tuple | list | None) -> tuple[int, int] | None:
    """``64`` → (64, 64); ``"28x20"`` / ``"28,20"`` / (28, 20) → (H, W)."""
    if s is None:
        return None
    if isinstance(s, int):
        parts = [s]
    elif isinstance(s, (tuple, list)):
        parts = list(s)
    else:
        parts = str(s).lower().replace("×", "x").replace(",", "x").split("x")
    try:
        hw = [int(p) for p in parts]
    except ValueError:
        hw = []
    if len(hw) == 1:
        hw = hw * 2
    if len(hw) != 2 or min(hw) <= 0:
        raise AekitError(f"--image-size: expected N or HxW with positive sizes (e.g. 64 or 28x20), got {s!r}")
    return hw[0], hw[1]


def image_inputs(inp: Path) -> list[Path]:
    """The images to apply a run to: a file itself, a folder's images, or the images of its
    class subfolders (the layouts ``aekit train`` reads)."""
    return [inp] if not inp.is_dir() else list_images(inp)[0]


def list_images(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """(files, labels or None, class names or None)."""
    if not root.is_dir():
        raise AekitError(f"--data: {root} is not a folder of images")
    top = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if top or not subs:
        if not top:
            from .series import SUFFIXES

            series = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            hint = (f"; it holds series files ({', '.join(series[:3])}{' …' if len(series) > 3 else ''}): read it "
                    "as one series per file with --window N (or auto)") if series else ""
            raise AekitError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder; put image files or one "
                             f"subfolder per class there{hint}")
        return top, None, None
    files, labels, classes = [], [], []
    for sub in subs:
        imgs = sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if imgs:
            labels += [len(classes)] * len(imgs)
            classes.append(sub.name)
            files += imgs
    if not files:
        raise AekitError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its subfolders")
    return files, labels, classes


def open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise AekitError(f"{path}: not a readable image ({str(e).splitlines()[0] if str(e) else type(e).__name__}); the file is truncated or corrupt: replace or delete it") from None
    return img


def to_array(img, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """A PIL image → uint8 (C, H, W); resized to ``size`` = (H, W) when given."""
    from PIL import Image

    if img.mode in ("I", "I;16", "F"):  # 16-bit / float grayscale → 8 bit
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I") and a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8))
    img = img.convert("L" if channels == 1 else "RGB")
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


def read_image(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """One image file as uint8 (C, H, W) for a model that takes ``shape`` = (C, H, W): converted
    to its channels; an image of another size is refused, not resized."""
    img = open_image(path)
    if len(shape) != 3:
        raise AekitError(f"{path}: this model takes flat vectors of shape {shape}, not images; pass a .npy file")
    c, h, w = shape
    if img.size != (w, h):
        raise AekitError(f"{path}: image is {img.size[0]}×{img.size[1]}, the model takes {w}×{h}; resize it first")
    return to_array(img, c, None)


def write_image(path: Path, x: np.ndarray) -> None:
    """Save (C, H, W) values in [0, 1] as PNG (JPEG for a .jpg/.jpeg name), atomically."""
    from PIL import Image

    from .. import io

    a = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    with io.atomic_path(path) as tmp:
        Image.fromarray(a).save(tmp, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")


def to_unit(x: np.ndarray) -> np.ndarray:
    """uint8 pixels → float32 in [0, 1]; other arrays → float32 as they are."""
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def read_image_folder(root: str | Path, image_size=None):
    """(x uint8 (N, C, H, W), labels or None, info) from a folder of images."""
    root = Path(root)
    size = parse_image_size(image_size)
    files, labels, classes = list_images(root)
    imgs = [open_image(p) for p in files]
    channels = 1 if all(im.mode in GRAY_MODES for im in imgs) else 3
    if size is None:
        first = imgs[0].size
        for p, im in zip(files, imgs):
            if im.size != first:
                raise AekitError(
                    f"{root}: images differ in size ({files[0].name} is {first[0]}×{first[1]}, {p.relative_to(root)} is "
                    f"{im.size[0]}×{im.size[1]}); pass --image-size HxW to resize them all"
                )
    x = np.stack([to_array(im, channels, size) for im in imgs])
    for im in imgs:
        im.close()
    info = {"channels": channels, "files": len(files)}
    if classes:
        info["classes"] = classes
    return x, None if labels is None else np.asarray(labels, np.int64), info
