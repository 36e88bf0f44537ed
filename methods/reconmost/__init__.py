"""ReconMOST: multi-layer ocean temperature reconstruction by observation-guided diffusion.

Modules: :mod:`.unet` (the network), :mod:`.diffusion` (the DDPM schedule and
its formulas), :mod:`.sampling` (guided reverse processes), :mod:`.normalise`,
:mod:`.checkpoint`, :mod:`.train` (``reconbench train``) and :mod:`.method`
(the registered methods ``reconmost`` and ``reconmost-paper``). See
``RECONMOST.md`` for the specification.
"""

from reconbench.methods.reconmost.method import ReconMOST, ReconMOSTPaper

__all__ = ["ReconMOST", "ReconMOSTPaper"]
