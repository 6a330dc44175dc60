"""How well the score would have warned of the renewals whose outcome is known."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from csm.models import ScoringProfile
from csm.trust.backtest import backtest


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


class Command(BaseCommand):
    help = "Backtest the health score against known renewal outcomes."

    def add_arguments(self, parser):
        parser.add_argument("--horizon", type=int, default=90, help="Days before renewal to read the health.")
        parser.add_argument(
            "--profile",
            type=int,
            help="Re-score the stored inputs with this profile version (else stored scores).",
        )
        parser.add_argument(
            "--segment", default="", help="The profile's segment (blank: the default profile)."
        )
        parser.add_argument("--step", type=int, help="Days between re-scored history points (default 7).")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the figures as JSON.")

    def handle(self, *args, horizon, profile, segment, step, as_json, **options):
        if horizon < 0:
            raise CommandError("--horizon must be 0 or more days.")
        version = None
        if profile is not None:
            version = ScoringProfile.objects.filter(version=profile, segment=segment).first()
            if version is None:
                raise CommandError(f"No profile version {profile} for segment {segment or '(default)'!r}.")
        started = time.perf_counter()
        report = backtest(horizon=horizon, profile=version, step=step)
        elapsed = time.perf_counter() - started
        if as_json:
            self.stdout.write(_json({**report.as_dict(), "seconds": round(elapsed, 2)}))
            return
        out = self.stdout.write
        out(f"Backtest of {report.source}, health read {horizon} days before each renewal ({elapsed:.1f}s)")
        out(
            f"  {report.outcomes} outcomes, {report.scored} with a score then: "
            f"{report.churned} churned, {report.retained} retained"
            + (f" ({report.synthetic} synthetic, from the demo)" if report.synthetic else "")
        )
        if not report.sufficient:
            out(f"  {report.why_not}")
            return
        for name, c in (("high or critical churn risk", report.high_risk), ("RED", report.red)):
            flagged = c.true_positive + c.false_positive
            out(
                f"  {name:<28} precision {_pct(c.precision):>5}  recall {_pct(c.recall):>5}  "
                f"(flagged {flagged}, caught {c.true_positive} of {report.churned})"
            )
        out(f"  ROC AUC of the score         {report.auc:.3f}")
        lead = report.median_lead_days
        out(
            f"  churned accounts warned      {report.warned} of {report.churned}"
            + (f", median {lead:.0f} days before renewal" if lead is not None else "")
        )
        out(f"  churned ARR flagged in time  {report.churned_arr_flagged:,.0f} of {report.churned_arr:,.0f}")
        out("  churn rate by score band")
        for row in report.calibration:
            out(f"    {row['band']:>7}: {_pct(row['churn_rate']):>5} of {row['accounts']}")


def _json(value) -> str:
    return json.dumps(value, indent=2, default=str)
