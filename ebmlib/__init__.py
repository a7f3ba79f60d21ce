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
``samplers``     MCMC over a batch of chains: the one Langevin move, ULA, MALA, HMC, Metropolis,
                 parallel tempering, and the SGLD of neural EBMs as a parametrisation of Langevin
``diagnostics``  autocorrelation, ESS, R-hat and MCSE for MCMC chains, as ArviZ defines them
``nets``         small smooth networks: the one MLP builder, MLP energies, a conv net for 8x8 digits
``losses``       contrastive divergence and the one contrastive loss, score matching (exact, sliced,
                 denoising: the one DSM), NCE, noise annealing
``training``     the one training loop (fit) on the one Adam; exact test log-likelihood on a grid;
                 the replay buffer and replay-buffer training of neural EBMs
``jem``          joint energy-based models: a classifier read as an energy
``ais``          annealed importance sampling, generic and for continuous energies
``rbm``          restricted Boltzmann machines: exact log Z and the RBM's AIS, Gibbs, CD/PCD, pseudo-likelihood
``dbm``          deep Boltzmann machines: mean field, ELBO, greedy pretraining
``score``        noise-conditional score models, annealed Langevin, diffusion, guidance
``datasets``     generated 2-D toy data, bars and stripes, the 8x8 digits
``plotting``     the course's figures (imported by notebooks, never by the core)
``widgets``      the course's sliders (imported by notebooks, never by the core)
``testing``      helpers for the notebooks' hidden tests
``_validation``  the one private module of checks and types (``Energy``, ``Score``, :class:`NonFiniteError`)

Devices and generators, one rule: a random draw happens on the device of the inputs, from a
generator on that device (``torch.Generator(device=x.device)``); a generator on another device is
refused with a ``ValueError`` that says which device it must be on. Networks take ``generator=``
for their initial parameters, so that no caller needs ``torch.manual_seed``.

Vocabulary
----------
Every parameter of every public function and method is named from this list, and each name
means one thing wherever it appears (``tests/test_vocabulary.py`` walks the signatures).

``x``                 a batch of points, shape (n, *event_shape): data, chain positions or noisy inputs
``x0``                starting points of chains or of a forward process, shape (n_chains, *event_shape)
``x_pos``             data, the positive phase; ``x_neg`` model samples, the negative phase
``x_neg``             model samples (the negative phase), never differentiated
``x_noisy``           a noised point x + sigma z
``y``                 class labels of shape (n,), one per row of x (JEM)
``labels``            integer class labels (a tensor, or one int for all rows)
``v``                 visible units of a Boltzmann machine, shape (n, n_visible); ``h`` the hidden units
``h``                 hidden units of a Boltzmann machine, shape (n, n_hidden)
``v_pos``             visible data (positive phase); ``v_neg`` visible model samples (negative phase)
``v_neg``             visible model samples (negative phase)
``layers_pos``        a DBM's layers [v, mu_1, ..., mu_L] in the positive phase (data and mean-field means)
``layers_neg``        a DBM's layers [v, h1, ..., hL] in the negative phase (persistent chains)
``mean_field_steps``  mean-field sweeps per positive phase of joint DBM training
``h_start``           hidden states where a persistent Gibbs chain resumes
``layers``            the states of every layer of a DBM, visible first
``spins``             Ising configurations of +-1, shape (n, L, L)
``energy``            a callable x -> E(x) of shape (n,); low energy, high probability
``energies``          the energies of finitely many states, a 1-D tensor
``score``             the score: grad_x log p (a tensor), or a callable (x, sigma) -> grad_x log p_sigma(x)
``temperature``       T > 0: the target is exp(-E/T); a float, or a tensor of one T per chain or per sweep
``temperatures``      a ladder or sweep of temperatures T_1 < T_2 < ... (or one per chain)
``step_size``         epsilon, the time step of a discretised dynamics: in the Langevin step
                      x' = x - eps/(2T) grad E + sqrt(eps) z (ULA, MALA, CD negatives, annealed Langevin
                      at the last level, parallel tempering's local moves) and in HMC's leapfrog
                      (one leapfrog step with fresh momentum is the Langevin step of size eps^2)
``proposal_scale``    sigma, the standard deviation of random-walk Metropolis's Gaussian proposal
``drift``             a, the coefficient of grad E in SGLD's x' = x - a grad E + sigma z
``noise_scale``       sigma, the standard deviation of SGLD's added noise (eps = sigma^2, T = sigma^2/(2a))
``noise``             standard normal draws handed in (or, in ``datasets``, the standard deviation of the
                      jitter added to the toy points; in ``nce``, the noise distribution)
``sigma``             a noise level: the standard deviation of Gaussian noise added to data (a number,
                      or one per point); in ``eight_gaussians_mixture`` the std of each component
``sigmas``            a noise schedule sigma_1 > ... > sigma_L > 0
``sigma_max``         the largest noise level of a schedule; ``sigma_min`` the smallest
``sigma_min``         the smallest noise level of a schedule
``alpha_bar``         the variance-preserving signal fraction prod(1 - beta_s)
``beta_min``          the first beta of DDPM's linear schedule; ``beta_max`` the last
``beta_max``          the last beta of DDPM's linear schedule
``betas``             a schedule of coefficients rising from 0: AIS's inverse temperatures from 0 to 1
                      (or their count), DDPM's noise variances, Adam's two averaging constants
``n_steps``           the number of steps of the loop a function runs: sampler transitions, optimiser
                      updates, fixed-point iterations, or the points of a schedule
``n_steps_per_level`` Langevin steps at each noise level of annealed Langevin
``k``                 Gibbs sweeps per update of a Boltzmann machine (the k of CD-k)
``epochs``            passes over the training data (Boltzmann machines' fit and pretrain)
``sgld_steps``        SGLD steps that make the negatives of one training update
``n_sweeps``          Metropolis sweeps over an Ising lattice; ``n_sweeps_per_T`` at each temperature
``n_sweeps_per_T``    Ising sweeps at each temperature of an annealing schedule
``burn_in``           the first sweeps of every chain that a measurement discards
``n_leapfrog``        leapfrog steps per HMC proposal
``n_local_steps``     MALA steps at every temperature between two swaps of parallel tempering
``n_chains``          the number of chains (rows moved together as one tensor)
``n_runs``            independent AIS runs, each of n_chains chains
``n_betas``           the number of inverse temperatures of an AIS schedule
``n_levels``          the number of noise levels of a schedule
``n_projections``     random projections per point in sliced score matching
``n_noise``           noise samples drawn by NCE
``n_temperatures``    the rungs of a parallel-tempering ladder
``n``                 a number of samples to draw, or of binary units to enumerate
``n_test``            held-out samples
``n_visible``         visible units of an RBM; ``n_hidden`` hidden units
``n_hidden``          hidden units of an RBM
``n_classes``         the number of classes of a classifier
``n_inputs``          inputs of a network; ``n_outputs`` its outputs
``n_outputs``         outputs of a network
``n_columns``         columns a binary matrix must have
``lr``                the learning rate of gradient ascent or of Adam
``eps``               Adam's small constant in the denominator (not a step size)
``batch_size``        rows per minibatch
``data``              the training set (a tensor, or a tuple of tensors of equal length)
``params``            the tensors an optimiser updates
``model``             the torch.nn.Module a loop trains, or whose dtype and device data follow
``loss_fn``           a callable (model, batch) -> loss or (loss, record)
``callback``          called after every training step, (step, model, history)
``schedule``          a learning-rate schedule: None or "cosine"
``on_nonfinite``      what fit does on a NonFiniteError: "raise" or "stop"
``on_divergence``     what a Langevin run does with a diverged chain: "count" or "raise"
``desc``              the label of a progress bar
``progress``          show a tqdm progress bar; False by default everywhere
``generator``         a torch.Generator on the device of the inputs; same seed, same result
``device``            the torch device results are made on (where there are no inputs)
``dtype``             the torch dtype results are made in (where there are no inputs)
``regularization``    alpha >= 0, the energy-magnitude penalty of the contrastive loss
``generative_weight`` w >= 0, the weight of JEM's generative term
``guidance_scale``    w >= 0, the classifier-guidance scale
``chains``            PersistentChains of persistent contrastive divergence
``buffer``            the ReplayBuffer that negatives start from
``capacity``          samples a replay buffer stores
``init``              a callable drawing a replay buffer's fresh starts
``reinit_fraction``   rho, the probability that a drawn buffer row restarts from init
``index``             row or site indices to use or to update
``clamp``             a box (low, high) the chains are clipped to after every step
``clamp_visible``     keep a DBM's visible layer fixed during Gibbs sampling
``keep``              which states a Langevin run returns: "all" or "last"
``record``            record every position of a sampler run
``return_chain``      also return every Gibbs state; ``return_samples``, ``return_energies``,
                      ``return_labels``, ``return_trajectory`` likewise return what they name
``return_samples``    also return the negatives
``return_energies``   also return the energies of the positive and negative samples
``return_labels``     also return the component or class labels
``return_trajectory`` also return every intermediate state
``denoise``           finish with Tweedie's denoising step
``reduction``         "mean" over the batch or "none" (one value per point)
``create_graph``      keep the autograd graph so the result can be differentiated again
``variance_reduction`` replace a Monte Carlo term by its exact mean
``projection``        the law of the random projections: "gaussian" or "rademacher"
``persistent``        keep the negative chains between updates (PCD)
``shuffle``           shuffle the rows before each epoch
``sum_over``          the layer an exact log Z sums over: "hidden" or "visible"
``method``            which of several estimators: "exact" or "ais"; ESS "bulk"/"tail"/"mean"; R-hat "rank"/"split"
``log_z``             a known or learned log Z
``log_z_base``        log Z_0 of AIS's base
``log_density``       a callable (x, beta) -> log f_beta(x) of an AIS path
``log_ratio``         the log Metropolis-Hastings ratio of a proposal
``transition``        a callable (x, beta, generator) -> x', leaving f_beta invariant
``base``              AIS's base distribution (a Gaussian)
``base_bias``         the visible bias of the RBM AIS starts from
``ais_options``       keyword arguments handed on to AIS
``state``             a SamplerState (positions with their energies and gradients)
``proposal``          a proposed SamplerState
``momentum``          HMC's momentum p, shape of x
``proposal_momentum`` the momentum at HMC's proposal
``mass``              HMC's diagonal mass matrix; ``inverse_mass`` its inverse
``inverse_mass``      the inverse of HMC's diagonal mass matrix
``grad``              also compute the gradient of the energy
``sampler``           which sampler: "mala" or "hmc" (or the function)
``target_acceptance`` the acceptance rate that step-size adaptation aims at
``parity``            which neighbouring pairs swap: 0 for (0,1),(2,3)... and 1 for (1,2),(3,4)...
``color``             a checkerboard colour, 0 or 1; ``on_color`` a boolean mask of one colour
``on_color``          a boolean mask of the sites of one checkerboard colour
``uniforms``          uniform draws on [0, 1) handed in, one per site
``L``                 the side of an Ising lattice
``t_start``           the first temperature of an annealing schedule; ``t_end`` the last
``t_end``             the last temperature of an annealing schedule
``W``                 weights of a Boltzmann machine (n_visible, n_hidden), or a list of them; ``b``,
                      ``c`` visible and hidden biases (``b`` a list of every layer's biases in a DBM)
``b``                 visible biases (or, in a DBM, every layer's biases)
``c``                 hidden biases
``mu``                mean-field means of a DBM's hidden layers
``tol``               the tolerance a fixed-point iteration stops at
``sizes``             the units of every layer of a DBM, visible first
``mean``              a Gaussian's mean; ``cov`` its covariance
``cov``               a Gaussian's covariance matrix
``means``             mixture components' means; ``stds`` their standard deviations; ``weights`` their weights
``stds``              mixture components' standard deviations
``weights``           mixture components' weights
``mixture``           a GaussianMixture
``barrier``           the height of the double well's barrier
``dim``               the dimension d of x
``event_shape``       the shape of one sample, without the batch dimension
``hidden``            units per hidden layer of a network
``depth``             the number of hidden layers of an MLP
``channels``          channels of a convolutional network's layers
``init_scale``        the factor on an MLP's first-layer initial weights
``classifier``        a network (x, sigma) -> logits, or a classifier module read by JEM
``jem``               a JEM
``scores_in``         scores of in-distribution inputs; ``scores_out`` of out-of-distribution ones
``scores_out``        scores of out-of-distribution inputs
``bounds``            a box: (low, high), or one pair per axis
``low``               the lower end of a box; ``high`` the upper
``high``              the upper end of a box
``points``            points at which to evaluate an energy on a grid
``fraction``          the share of training over which a schedule falls
``width``             the width of a blur or a mode
``step``              the index of the current training step
``value``             a number to check or to shape
``like``              a tensor whose dtype, device or shape to follow
``name``              the argument's name in an error message
``start``             the first index of a range; ``stop`` one past the last
``stop``              one past the last index of a range
``p``                 probabilities of independent Bernoulli draws
``radius``            the radius the eight Gaussians sit on
``std``               a standard deviation
``size``              the side of a square image
``split``             which part of a data set: "train" or "test"
``threshold``         the grey level above which a pixel is 1
``ax``                the matplotlib axes to draw on; ``alpha`` opacity, ``label`` legend entry,
                      ``levels`` contour levels, ``colorbar`` draw one, ``density`` plot p rather than E
``alpha``             opacity of plotted points
``label``             a legend entry
``levels``            contour levels
``colorbar``          draw a colour bar
``density``           plot the normalised density rather than the energy
``marker_size``       the size of plotted points
``kwargs``            keyword arguments handed on to the function named in the docstring
``metropolis``        the steps of a sampler run accept or reject (a Metropolis correction)
``min_steps``         the least number of steps a sampler accepts
``step_name``         the name under which a step-like argument is checked
``module``            a network whose parameters to (re)draw
``n_classes``         the number of classes
``n_blocks``          the number of residual blocks of a network
``groups``            the groups of a group normalisation (they divide the channels)
``log_prior``         a callable x -> log density of the prior at the top noise level
``n_corrector``       Langevin (corrector) steps per level of a predictor–corrector sampler
``snr``               the signal-to-noise ratio that sets a corrector's Langevin step

Never used, since each means something already named: ``learning_rate`` (``lr``), ``noise_std``
(``noise_scale``), ``n_hidden_layers`` (``depth``), ``T`` (``temperature``), ``epsilon``
(``step_size``), ``num_steps`` (``n_steps``).
"""

__version__ = "0.1.0"
