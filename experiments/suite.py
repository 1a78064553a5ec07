"""The suite that run_all.py runs and reports, in this order: adding an experiment is its file and one line here."""

from experiments import (
    double_descent,
    flatness_interpolation,
    flatness_sensitivity,
    grad_norm,
    hessian_spectrum,
    loss_surface,
    minimal_ratio,
    optimization_pca,
    params_vs_generalization,
    random_features,
    random_labels,
    sharpness,
    simulate_function,
    train_mnist,
)

SUITE = (
    simulate_function.EXPERIMENT,
    train_mnist.EXPERIMENT,
    optimization_pca.EXPERIMENT,
    grad_norm.EXPERIMENT,
    minimal_ratio.EXPERIMENT,
    random_labels.EXPERIMENT,
    params_vs_generalization.EXPERIMENT,
    flatness_interpolation.EXPERIMENT,
    flatness_sensitivity.EXPERIMENT,
    sharpness.EXPERIMENT,
    hessian_spectrum.EXPERIMENT,  # reads the sharpness runs' checkpoints
    loss_surface.EXPERIMENT,  # reads the flatness_interpolation runs' checkpoints
    random_features.EXPERIMENT,
    double_descent.EXPERIMENT,
)
