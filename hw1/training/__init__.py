"""Training layer: MNIST and 1-D function data, registry nets, the LightningModule, the one training path,
checkpoints, training to a target, and loading a trained minimum with its training data."""
