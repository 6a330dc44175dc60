"""Health scoring. The engine's interface, as docs/scoring.md states it:

    from csm.scoring import score, DEFAULT_PROFILE
    result = score(inputs, profile=DEFAULT_PROFILE)

`engine` is pure (no Django); `inputs`, `profiles`, `explanations` and `scan`
are the parts around it. Importing this package loads only the engine.
"""

from csm.scoring.engine import DEFAULT_PROFILE, GROUPS, INPUT_NAMES, Profile, ScoreResult, score

__all__ = ["DEFAULT_PROFILE", "GROUPS", "INPUT_NAMES", "Profile", "ScoreResult", "score"]
