"""ebmlib: the tested reference library of the Energy-Based Models course.

One sign convention, written here once and never flipped anywhere in the library,
the notebooks or the tests:

.. math::

    p(x) = \\frac{\\exp(-E(x)/T)}{Z(T)}, \\qquad
    Z(T) = \\sum_x \\exp(-E(x)/T) \\ \\text{or} \\ \\int \\exp(-E(x)/T)\\,dx, \\qquad
    \\operatorname{score}(x) = \\nabla_x \\log p(x) = -\\nabla_x E(x) / T .

* An *energy* is a callable ``x -> E(x)`` mapping a batch of shape ``(n, *event)`` to
  shape ``(n,)``. Low energy means high probability.
* The *score* is ``-grad E / T``; the gradient of the energy itself is never called the score.
* The temperature ``T`` is explicit (Boltzmann's constant is 1); ``T = 1`` is the default.
* Shapes are batch first: samples ``(n, d)``, chains ``(n_chains, n_draws, d)`` as ArviZ expects.
* Every stochastic function takes ``generator: torch.Generator | None``: same seed, same result.
* Devices and dtypes follow the inputs; float64 where exactness is the point (log Z).
* Bad input raises ``ValueError`` (or ``TypeError``) naming the argument; NaNs are never hidden.

Modules, one concept each:

``energies``     closed-form energies: Gaussian, Gaussian mixture, double well
``partition``    log Z by enumeration and quadrature; Boltzmann weights and thermodynamics
``ising``        the 2-D Ising model: enumeration, checkerboard Metropolis, Onsager's solution
``samplers``     MCMC over a batch of chains: ULA, MALA, HMC, Metropolis, parallel tempering
``diagnostics``  autocorrelation, ESS, R-hat and MCSE for MCMC chains, as ArviZ defines them
``nets``         small smooth networks: MLP energies for 2-D data, a conv net for 8x8 digits
``losses``       contrastive divergence, score matching (exact, sliced, denoising), NCE, noise annealing
``training``     the one training loop (fit); exact test log-likelihood on a grid
``buffer``       the replay buffer of persistent SGLD chains
``sgld_sampling`` SGLD with step size and noise set apart, and the temperature it implies
``ebm_training`` training neural EBMs with a replay buffer, stopping cleanly on non-finite values
``jem``          joint energy-based models: a classifier read as an energy
``rbm``          restricted Boltzmann machines: exact and AIS log Z, Gibbs, CD/PCD, pseudo-likelihood
``ais``          annealed importance sampling
``dbm``          deep Boltzmann machines: mean field, ELBO, greedy pretraining
``score``        noise-conditional score models, annealed Langevin, diffusion, guidance
``datasets``     generated 2-D toy data
``plotting``     the course's figures (imported by notebooks, never by the core)
``widgets``      the course's sliders (imported by notebooks, never by the core)
``testing``      helpers for the notebooks' hidden tests
"""

__version__ = "0.1.0"
