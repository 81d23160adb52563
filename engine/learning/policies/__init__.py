"""Bandit policies: MABWiser learns in the learner, a frozen snapshot scores in the API.

The learner owns a :class:`Trainer` (a MABWiser ``MAB``: partial_fit, arms joining and
leaving) and publishes :class:`ModelSnapshot` versions; every API worker serves a
:class:`Scorer` built once per snapshot, which reproduces MABWiser's ``predict_expectations``
vectorised over offers. Training and serving never share an object (mabwiser issue #23).
"""

from engine.learning.policies._config import PolicyConfig, PolicyName
from engine.learning.policies._scorer import Scorer
from engine.learning.policies._snapshot import ModelSnapshot
from engine.learning.policies._trainer import Trainer

__all__ = ["ModelSnapshot", "PolicyConfig", "PolicyName", "Scorer", "Trainer"]
