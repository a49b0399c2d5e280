"""Evaluation: replaying labelled files through the service, BCubed and
pairwise scores, ROUGE for headlines, reference baselines, grid tuning."""

from cluster.evaluation.replay import FileEvaluation, evaluate_items, labelled_items
from cluster.evaluation.scores import Scores, bcubed, score

__all__ = ["FileEvaluation", "Scores", "bcubed", "evaluate_items", "labelled_items", "score"]
