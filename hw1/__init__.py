"""Homework 1 of deep-learning theory as a PyTorch Lightning project, in layers; each imports only those below it.

    hw1.cli        what an invocation does: flags and profiles, sweeps of runs, post-hoc analyses' sources
    hw1.reporting  figures, the report and its verdicts, reading TensorBoard logs
    hw1.analysis   functions of trained weights and data: Hessians, sharpness, minimal ratio, surfaces, PCA, ...
    hw1.training   data, nets, the LightningModule, the training path, checkpoints and loading minima
    hw1.runs       settings, result folders, atomic files, errors

`tests/test_structure.py` checks the order.
"""
