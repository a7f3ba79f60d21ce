r"""Score models and the link to diffusion: noise-conditional scores, annealed Langevin, guidance.

A score model learns :math:`\nabla_x \log p_\sigma(x)` for the data density blurred by Gaussian noise
of every size :math:`\sigma` in a schedule; each is the negative gradient of an energy,
:math:`-\nabla_x E_\sigma(x)` with :math:`E_\sigma = -\log p_\sigma`. Sampling follows the scores from
coarse to fine (annealed Langevin, or the reverse diffusion process).

Modules, one concept each:

``models``       ``NoiseConditionalScore`` (a score network) and ``NoiseConditionalEnergy`` (its twin: score = −∇E)
``objectives``   ``geometric_noise_schedule``, denoising score matching over many levels, the training loop
``annealed``     ``annealed_langevin`` (step ε σᵢ²/σ_L² at level i) and Tweedie's denoising step
``diffusion``    forward noising, variance exploding and variance preserving; the reverse process
``flow``         the probability-flow ODE: a deterministic sampler and the exact log-likelihood along it
``guidance``     noise-conditional classifiers and the guided score ∇log p(x) + w ∇log p(y|x)
``evaluation``   mode weights of samples; a learned score's error against an exact mixture score

Introduced in notebook 08_score_models_and_diffusion.
"""

from ebmlib.score.annealed import annealed_langevin, tweedie_denoise
from ebmlib.score.diffusion import (
    linear_beta_schedule,
    predictor_corrector,
    reverse_diffusion,
    ve_forward,
    ve_marginal,
    vp_alpha_bar,
    vp_forward,
    vp_marginal,
    vp_score_from_ve,
)
from ebmlib.score.flow import flow_log_likelihood, probability_flow
from ebmlib.score.evaluation import mode_weights, score_error
from ebmlib.score.guidance import (
    MixtureClassifier,
    NoiseConditionalClassifier,
    classifier_log_prob_grad,
    classifier_loss,
    guided_score,
    train_classifier,
)
from ebmlib.score.models import NoiseConditionalEnergy, NoiseConditionalScore
from ebmlib.score.objectives import dsm_loss, dsm_target, geometric_noise_schedule, multilevel_dsm_loss, train_score_model

__all__ = [
    "MixtureClassifier",
    "NoiseConditionalClassifier",
    "NoiseConditionalEnergy",
    "NoiseConditionalScore",
    "annealed_langevin",
    "classifier_log_prob_grad",
    "classifier_loss",
    "dsm_loss",
    "dsm_target",
    "flow_log_likelihood",
    "geometric_noise_schedule",
    "guided_score",
    "linear_beta_schedule",
    "mode_weights",
    "multilevel_dsm_loss",
    "predictor_corrector",
    "probability_flow",
    "reverse_diffusion",
    "score_error",
    "train_classifier",
    "train_score_model",
    "tweedie_denoise",
    "ve_forward",
    "ve_marginal",
    "vp_alpha_bar",
    "vp_forward",
    "vp_marginal",
    "vp_score_from_ve",
]
