"""Datasets as uint8 tensors: find, decode, cache, convert, order and flip.

Everything the trainer and CLI need is re-exported here; the submodules each
own one step (see their docstrings).
"""

from gankit.data.augment import augment_flips
from gankit.data.dataset import dataset_kind, load_dataset, native_shape
from gankit.data.imagedata import FASHION_MNIST_CLASSES, ImageData, label_index
from gankit.data.order import BatchOrder

__all__ = [
    "FASHION_MNIST_CLASSES",
    "BatchOrder",
    "ImageData",
    "augment_flips",
    "dataset_kind",
    "label_index",
    "load_dataset",
    "native_shape",
]
