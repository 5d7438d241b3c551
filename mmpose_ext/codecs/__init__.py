from .laplace_regression_label import LaplaceRegressionLabel

__all__ = ['LaplaceRegressionLabel']
