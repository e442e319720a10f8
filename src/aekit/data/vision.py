"""Colour image sets by name: CIFAR-10, SVHN, CelebA (64×64), all uint8 (N, 3, H, W).

CIFAR-10 is read from its *binary* release (``cifar-10-batches-bin``: per record one label
byte and 3072 pixel bytes, channel-major), never from the pickled Python release. SVHN comes
as MATLAB v5 files (``train_32x32.mat``: X (32, 32, 3, N), y in 1..10 with 10 for the digit
0). CelebA is cropped as in the VAE/GAN literature: the aligned 178×218 photo's central
148×148 square, resized to 64×64; the decoded images are cached next to the photos as
``celeba64_{train,test}.npy`` and memory-mapped afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AekitError
from .bundle import Data
from .formats import read_mat
from .named import SCALE, dataset, find, missing, try_download

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


def read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise AekitError(f"cifar10: {path} has {raw.size} bytes, not a multiple of 3073 (one record); re-download it")
    rec = raw.reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


@dataset("cifar10", "3×32×32 colour images; --data-root DIR with cifar-10-batches-bin/ (the binary release); downloaded when online")
def _cifar10(root: Path, download=True, seed=0) -> Data:
    def paths():
        return [find(root, f"cifar-10-batches-bin/{f}") or find(root, f) for f in [*CIFAR_TRAIN, "test_batch.bin"]]

    if None in paths():
        def fetch():
            from torchvision.datasets.utils import download_and_extract_archive

            download_and_extract_archive(CIFAR_URL, str(root), md5=CIFAR_MD5)

        try_download("cifar10", fetch, download)
    ps = paths()
    if None in ps:
        raise missing("cifar10", "cifar-10-batches-bin/data_batch_1.bin … test_batch.bin", root,
                      f"the extracted binary release ({CIFAR_URL})")
    parts = [read_cifar_bin(p) for p in ps]
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    return Data(x_train=xtr, x_test=parts[5][0], y_train=ytr, y_test=parts[5][1], name="cifar10",
                preprocess=SCALE, info={"value_range": [0.0, 1.0], "split": "official 50000/10000", "root": str(root)})


@dataset("svhn", "3×32×32 house numbers; --data-root DIR with train_32x32.mat and test_32x32.mat; downloaded when online")
def _svhn(root: Path, download=True, seed=0) -> Data:
    files = ("train_32x32.mat", "test_32x32.mat")
    if any(find(root, f) is None for f in files):
        def fetch():
            import torchvision

            for split in ("train", "test"):
                torchvision.datasets.SVHN(str(root), split=split, download=True)

        try_download("svhn", fetch, download)
    ps = [find(root, f) for f in files]
    if None in ps:
        raise missing("svhn", " and ".join(files), root, "SVHN's cropped-digit files (http://ufldl.stanford.edu/housenumbers/)")
    out = []
    for p in ps:
        x, y = read_mat(p, "X")
        if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y is None:
            raise AekitError(f"svhn: {p} key X has shape {x.shape}, expected (32, 32, 3, N) with labels y")
        out.append((np.ascontiguousarray(x.transpose(3, 2, 0, 1)), (y.astype(np.int64) % 10)))  # label 10 means 0
    (xtr, ytr), (xte, yte) = out
    return Data(x_train=xtr, x_test=xte, y_train=ytr, y_test=yte, name="svhn", preprocess=SCALE,
                info={"value_range": [0.0, 1.0], "split": f"official {len(xtr)}/{len(xte)}", "root": str(root)})


def celeba_crop(img) -> np.ndarray:
    """Central 148×148 of an aligned CelebA photo, resized to 64×64 → uint8 (3, 64, 64)."""
    from PIL import Image

    w, h = img.size
    s = min(148, w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.convert("RGB").crop((left, top, left + s, top + s)).resize((64, 64), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


@dataset("celeba", "3×64×64 faces (central 148 crop); --data-root DIR with img_align_celeba/ and list_eval_partition.txt; torchvision downloads when online")
def _celeba(root: Path, download=True, seed=0) -> Data:
    from .. import io
    from .images import open_image

    folder = next((f for f in (root / "img_align_celeba", root / "celeba" / "img_align_celeba") if f.is_dir()), None)
    cache = [root / "celeba64_train.npy", root / "celeba64_test.npy"]
    if folder is None and not all(c.is_file() for c in cache):
        def fetch():
            import torchvision

            torchvision.datasets.CelebA(str(root), split="all", download=True)

        try_download("celeba", fetch, download)
        folder = next((f for f in (root / "img_align_celeba", root / "celeba" / "img_align_celeba") if f.is_dir()), None)
    if not all(c.is_file() for c in cache):
        if folder is None:
            raise missing("celeba", "img_align_celeba/", root, "the aligned CelebA photos (img_align_celeba/*.jpg) and list_eval_partition.txt")
        part_file = folder.parent / "list_eval_partition.txt"
        if not part_file.is_file():
            raise missing("celeba", "list_eval_partition.txt", folder.parent, "CelebA's list_eval_partition.txt")
        split = {}
        for line in part_file.read_text().split("\n"):
            if line.strip():
                name, part = line.split()
                split[name] = int(part)
        for c, keep in zip(cache, ((0, 1), (2,))):  # train + valid → train; test → test
            names = sorted(n for n, s in split.items() if s in keep)
            with io.atomic_path(c) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(names), 3, 64, 64))
                for i, n in enumerate(names):
                    out[i] = celeba_crop(open_image(folder / n))
                out.flush()
                del out
    xtr, xte = (np.load(c, mmap_mode="r") for c in cache)
    return Data(x_train=xtr, x_test=xte, name="celeba", preprocess=SCALE,
                info={"value_range": [0.0, 1.0], "split": f"official {len(xtr)}/{len(xte)} (train+valid / test)", "root": str(root)})
