"""Homework 1 of deep-learning theory as a PyTorch Lightning project: data, nets, training and analysis."""
