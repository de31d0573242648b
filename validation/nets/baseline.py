"""The linear baseline every trained model is set beside: is the network worth testing?

A model whose decision boundary is (nearly) a straight line makes every network-versus-PDE and
robustness comparison degenerate. :func:`linear_baseline` fits multinomial logistic regression
(scikit-learn) on the same training split and scores it on the same test split;
:func:`beats_linear` says whether a model's test accuracy exceeds it by ``MARGIN``.
"""

from __future__ import annotations

from .data import Dataset

#: test-accuracy margin over the linear baseline a model needs to count as nonlinear
MARGIN = 0.02


def linear_baseline(data: Dataset, test_points: int | None = None) -> dict:
    """Train and test accuracy of logistic regression on the data set's own split (the test
    accuracy on the first ``test_points`` test points when given, as a study scores them)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000).fit(data.x_train, data.y_train)
    n = len(data.x_test) if test_points is None else test_points
    return {"linear_train_acc": float(clf.score(data.x_train, data.y_train)),
            "linear_test_acc": float(clf.score(data.x_test[:n], data.y_test[:n]))}


def beats_linear(test_acc: float, baseline: dict, margin: float = MARGIN) -> bool:
    """Whether ``test_acc`` exceeds the linear baseline's test accuracy by ``margin``."""
    return test_acc >= baseline["linear_test_acc"] + margin
