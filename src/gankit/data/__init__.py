"""Datasets as uint8 tensors: find, decode, cache, convert, order and augment.

Everything the trainer and CLI need is re-exported here; the submodules each
own one step (see their docstrings).
"""

from gankit.data.augment import augment, augment_flips, augments
from gankit.data.dataset import dataset_kind, load_dataset, native_shape, resolve_normalization
from gankit.data.imagedata import FASHION_MNIST_CLASSES, ImageData, label_index
from gankit.data.order import BatchOrder

__all__ = [
    "FASHION_MNIST_CLASSES",
    "BatchOrder",
    "ImageData",
    "augment",
    "augment_flips",
    "augments",
    "dataset_kind",
    "label_index",
    "load_dataset",
    "native_shape",
    "resolve_normalization",
]
