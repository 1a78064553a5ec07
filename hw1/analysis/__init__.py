"""Analysis layer: functions of trained weights and data (flat parameter vectors, Hessians, sharpness, minimal
ratio, loss surfaces, interpolation, sensitivity, PCA of trajectories); no drawing, no training."""
