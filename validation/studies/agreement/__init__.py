"""The three-way agreement: a trained network, its semi-discrete operator and its PDE at the
test features, with measured orders (study), the experiment with figures and summary
(experiment, ``cdverify validate``) and its figures (figures)."""

from .experiment import validate
from .stage import AgreementConfig, AgreementStudy
from .study import ORDER_TOLERANCE, AgreementResult, agreement_study, agreement_verdict

__all__ = ["ORDER_TOLERANCE", "AgreementConfig", "AgreementResult", "AgreementStudy",
           "agreement_study", "agreement_verdict", "validate"]
