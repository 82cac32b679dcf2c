"""Reproducing the source documents: each one's experiments, trained and measured by gankit
and reported beside the numbers the document gave.

``catalog`` holds the documents' experiment sets and reported numbers, ``costs`` what
each costs on the CPU it was measured on, ``runner`` trains and evaluates a set
(resumably) into an output folder, ``measure`` computes and stores the figures,
``report`` writes REPORT.md and report.html, and ``lucic`` runs the Fashion-MNIST
column of Lucic et al. (2018) through ``gankit.tune``. Only the catalog is imported
here, so listing the documents does not load torch.
"""

from __future__ import annotations

from gankit.reproduce.catalog import DOCUMENTS, Document, Experiment, Point, find_document

__all__ = ["DOCUMENTS", "Document", "Experiment", "Point", "find_document"]
