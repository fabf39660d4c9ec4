"""drpo-analysis: check, simulate and demonstrate the trust-region terms of LLM RL.

Importing the package needs numpy only; sympy, torch and matplotlib are loaded by the modules
that use them (``symbolic``, ``losses_torch``, ``plotting``).

Quick start::

    >>> from drpo_analysis import methods
    >>> sorted(methods.names())[:3]
    ['cispo', 'dppo_binary_kl', 'dppo_binary_tv']
    >>> from drpo_analysis.core.losses_np import gradient_weight
    >>> float(gradient_weight("drpo", ell=-0.5, ell_mu=-0.7, adv=1.0, params={"delta": 0.2}))
    0.5...
"""

__version__ = "0.1.0"

from drpo_analysis.core import methods  # noqa: E402  (numpy-only registry)

__all__ = ["methods", "__version__"]
