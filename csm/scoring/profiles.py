"""Scoring profiles: which one applies to an account, and new versions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from csm.models import ScoringProfile
from csm.scoring import engine

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveProfiles:
    """The active profile per segment, with the default for the rest."""

    by_segment: dict[str, tuple[int, engine.Profile]]
    drop_points: dict[int, float]  # profile pk -> alert_drop_points

    def for_segment(self, segment: str) -> tuple[int, engine.Profile]:
        """(profile pk, engine profile) for an account of this segment."""
        return self.by_segment.get(segment) or self.by_segment[""]


def load_active_profiles() -> ActiveProfiles:
    return _as_active(ScoringProfile.objects.active())


def load_profiles(pks: Sequence[int]) -> ActiveProfiles:
    """These profile versions, as `load_active_profiles` gives the active ones: a run's, recorded as
    it started, so that every batch, on whatever worker and however late, scores with the same
    settings even if a new version is published meanwhile (versions never change).

    A version deleted since (only one no score points at can be) is no reason to stop: the run goes
    on with the versions active now, and says so in the log.
    """
    profiles = list(ScoringProfile.objects.filter(pk__in=pks))
    if len(profiles) != len(set(pks)):
        logger.warning(
            "Scoring profiles %s, which this run started with, are not all there any more; "
            "scoring with the active ones.",
            sorted(set(pks)),
        )
        return load_active_profiles()
    return _as_active(profiles)


def _as_active(profiles: Iterable[ScoringProfile]) -> ActiveProfiles:
    profiles = list(profiles)
    by_segment = {p.segment: (p.pk, p.to_profile()) for p in profiles}
    if "" not in by_segment:
        raise ScoringProfile.DoesNotExist(
            "No active default scoring profile. Run migrations, or activate one in the admin."
        )
    return ActiveProfiles(by_segment, {p.pk: p.alert_drop_points for p in profiles})


@transaction.atomic
def publish_version(draft: ScoringProfile, *, user=None) -> ScoringProfile:
    """Save `draft`'s settings as the next version of its segment and make it active.

    The previous active version of the segment is retired, never changed, so
    scores made with it keep pointing at the settings they used.
    """
    draft.to_profile()  # raises ValueError for unusable settings
    # Lock the segment's rows so two editors cannot both publish version N.
    list(ScoringProfile.objects.select_for_update().filter(segment=draft.segment))
    latest = ScoringProfile.objects.filter(segment=draft.segment).aggregate(v=Max("version"))["v"]
    ScoringProfile.objects.filter(segment=draft.segment, is_active=True).update(is_active=False)
    draft.pk = None
    draft._state.adding = True
    draft.version = (latest or 0) + 1
    draft.is_active = True
    draft.created_by = user
    draft.save()
    return draft
