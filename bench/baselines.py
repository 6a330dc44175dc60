"""Baselines for `benchmark_scan`: the scan, or the whole daily cycle, done two other ways.

The daily cycle is the scan (scores, current health, churn alerts) and then
the expansion check. Tend does it with csm.scan.scan_health and
csm.opportunities.check_expansion. Here, each with `alerts` and `expansion`
off for the scan-only comparison:

* `raw_cycle` does it through the DB-API connection, no ORM: the same reads,
  the same pure scoring, alert and expansion rules, the same rows written
  the fastest way the driver has, one transaction per batch: `executemany`
  on SQLite; on PostgreSQL `COPY` into a staging table and one statement
  from it per kind of row (psycopg's `executemany` pipeline took 1.5x as
  long). What Tend costs beyond it is Tend's overhead. (It leaves the
  at-most-five new opportunities uncreated: five inserts, too few to matter.)
* `naive_cycle` is the loop one writes first: per account, through the ORM,
  read its signals, score, save the score and the account, check the alert
  cooldown and record an alert, then look up its add-ons and open
  opportunities for expansion. The baseline the batched design is for.

Both only serve the benchmark; neither is used by Tend itself.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import defaultdict
from datetime import date, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from csm.accounts.catalogue import owned, plan_terms, terms_for
from csm.alerts import rules as alert_rules
from csm.expansion import opportunities
from csm.expansion.opportunities import catalogue
from csm.expansion.rules import CALM_CHURN, HEALTHY_RAGS, AccountFacts, find_opportunities, goodness
from csm.models import (
    OPEN_STATUSES,
    Account,
    AccountSignals,
    ChurnAlert,
    ExpansionOpportunity,
    HealthScore,
)
from csm.scoring import engine
from csm.scoring.explanations import explain_score
from csm.scoring.inputs import ACCOUNT_FIELDS, SIGNAL_FIELDS, derive_inputs
from csm.scoring.profiles import load_active_profiles
from csm.scoring.scan import HEALTH_FIELDS, SCORE_UPDATE_FIELDS


def _json(value) -> str:
    # The scan's JSON columns go through orjson too (agents_core.bulk.flat_json): the same encoder here.
    return orjson.dumps(value).decode()


def _as_date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def _sql_date(value):
    return value.isoformat() if connection.vendor == "sqlite" and value is not None else value


def raw_cycle(
    today: date, batch_size: int, *, alerts_on: bool = True, expansion: bool = True, expansion_limit: int = 5
) -> dict[str, int]:
    """Scan (with alerts), then the expansion check, through the raw driver. Returns counts."""
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    ph = "?" if connection.vendor == "sqlite" else "%s"
    acc, sig, hs, al = Account._meta, AccountSignals._meta, HealthScore._meta, ChurnAlert._meta
    col = {f: acc.get_field(f).column for f in ACCOUNT_FIELDS}
    select = (
        f"SELECT a.id, a.segment, a.health_score, a.rag, a.churn_risk, a.churn_trigger, a.arr, "
        f"a.tracked_adoption_rate, "
        f"{', '.join('a.' + col[f] for f in ACCOUNT_FIELDS)}, "
        f"{', '.join('s.' + sig.get_field(f).column for f in SIGNAL_FIELDS)} "
        f"FROM {acc.db_table} a LEFT JOIN {sig.db_table} s ON s.account_id = a.id "
        f"WHERE a.status <> 'churned' AND a.id > {ph} ORDER BY a.id LIMIT {ph}"
    )
    score_cols = [hs.get_field(f).column for f in ["account", "scored_on", *SCORE_UPDATE_FIELDS]]
    upsert = (
        f"INSERT INTO {hs.db_table} ({', '.join(score_cols)}) VALUES ({', '.join([ph] * len(score_cols))}) "
        f"ON CONFLICT (account_id, scored_on) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in score_cols[2:])
    )
    update = (
        f"UPDATE {acc.db_table} SET {', '.join(f'{acc.get_field(f).column} = {ph}' for f in HEALTH_FIELDS)} "
        f"WHERE id = {ph}"
    )
    stamp = f"UPDATE {acc.db_table} SET {acc.get_field('scored_at').column} = {ph} WHERE id = {ph}"
    alert_fields = ["account", "raised_on", "raised_at", "reason", "reasons", "explanation", "score",
                    "previous_score", "rag", "churn_risk", "churn_trigger", "moved", "arr", "renewal_date",
                    "held_back", "dispatched"]  # fmt: skip
    insert_alert = (
        f"INSERT INTO {al.db_table} ({', '.join(al.get_field(f).column for f in alert_fields)}) "
        f"VALUES ({', '.join([ph] * len(alert_fields))}) ON CONFLICT (account_id, raised_on) DO NOTHING"
    )
    profiles = load_active_profiles()
    now = timezone.now()
    now_db = now.isoformat() if connection.vendor == "sqlite" else now
    today_db = _sql_date(today)
    since_db = _sql_date(today - timedelta(days=settings.TEND_ALERT_COOLDOWN_DAYS))
    n_acc = len(ACCOUNT_FIELDS)
    last_id = scored = raised = 0
    while True:
        cursor.execute(select, (last_id, batch_size))
        rows = cursor.fetchall()
        if not rows:
            break
        last_id = rows[-1][0]
        score_rows, health_rows, stamp_rows, candidates = [], [], [], []
        for row in rows:
            account_id, segment, prev_score, prev_rag, prev_churn, prev_trigger, arr, tracked = row[:8]
            account = dict(zip(ACCOUNT_FIELDS, row[8 : 8 + n_acc], strict=True))
            account["renewal_date"] = _as_date(account["renewal_date"])
            signals = dict(zip(SIGNAL_FIELDS, row[8 + n_acc :], strict=True))
            for key in ("last_login_on", "last_interaction_on"):
                signals[key] = _as_date(signals[key])
            if tracked is not None:
                signals["feature_adoption_rate"] = tracked
            profile_pk, profile = profiles.for_segment(segment)
            try:
                inputs, defaulted = derive_inputs(account, signals, today, profile.no_data_defaults)
                r = engine.score(inputs, profile)
            except ValueError:
                continue
            trigger = r.churn_trigger or ""
            why = explain_score(
                r.breakdown, profile.weights, score=r.score, rag=r.rag,
                previous_score=prev_score, previous_rag=prev_rag or None,
            )  # fmt: skip
            score_rows.append((account_id, today_db, r.score, r.rag, r.churn_risk, trigger,
                               _json(r.breakdown), _json(r.inputs),
                               _json(defaulted), profile_pk, r.profile_version, now_db,
                               why))  # fmt: skip
            # As the scan does: an unchanged health only gets its new time scored.
            if (r.score, r.rag, r.churn_risk, trigger) == (prev_score, prev_rag, prev_churn, prev_trigger):
                stamp_rows.append((now_db, account_id))
            else:
                health_rows.append((r.score, r.rag, r.churn_risk, trigger, now_db, account_id))
            reasons = alerts_on and alert_rules.triggers(
                previous_score=prev_score, previous_rag=prev_rag or "", previous_churn=prev_churn or "",
                score=r.score, rag=r.rag, churn_risk=r.churn_risk,
                drop_points=profiles.drop_points[profile_pk],
            )  # fmt: skip
            if reasons:
                candidates.append((account_id, reasons, r, prev_score, arr, account["renewal_date"], why))
        alert_rows = _raw_alert_rows(cursor, ph, candidates, today, today_db, since_db, now_db)
        with transaction.atomic():
            if alert_rows:
                cursor.executemany(insert_alert, alert_rows)
            if connection.vendor == "postgresql":
                _copied(
                    cursor,
                    hs.db_table,
                    score_cols,
                    score_rows,
                    f"INSERT INTO {hs.db_table} "
                    f"({', '.join(score_cols)}) SELECT * FROM {{stage}} "
                    + upsert[upsert.index("ON CONFLICT") :],
                )
                health_cols = [acc.get_field(f).column for f in HEALTH_FIELDS]
                _copied(
                    cursor,
                    acc.db_table,
                    [*health_cols, "id"],
                    health_rows,
                    f"UPDATE {acc.db_table} AS t SET "
                    + ", ".join(f"{c} = v.{c}" for c in health_cols)
                    + " FROM {stage} AS v WHERE t.id = v.id",
                )
                _copied(cursor, acc.db_table, ["scored_at", "id"], stamp_rows, f"UPDATE {acc.db_table} AS t "
                        "SET scored_at = v.scored_at FROM {stage} AS v WHERE t.id = v.id")  # fmt: skip
            else:
                cursor.executemany(upsert, score_rows)
                cursor.executemany(update, health_rows)
                cursor.executemany(stamp, stamp_rows)
        scored += len(score_rows)
        raised += len(alert_rows)
    found = _raw_expansion(cursor, ph, expansion_limit) if expansion else 0
    cursor.close()
    return {"scored": scored, "raised": raised, "expansion_found": found}


def _copied(cursor, table: str, columns: list[str], rows: list[tuple], write: str) -> None:
    """PostgreSQL: COPY `rows` into a session staging table of `columns`, then run `write` from it."""
    if not rows:
        return
    stage = f"raw_stage_{table}_{len(columns)}"
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {', '.join(columns)} FROM {table} WITH NO DATA"
    )
    cursor.execute(f"DELETE FROM {stage}")  # free on the empty table a commit leaves; TRUNCATE is not
    with cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    if write.startswith("UPDATE"):
        # Bounded by the staged ids' range (every update here stages `id` last), so that the join
        # reads only that range of the table rather than hashing all of it, as Tend's bulk writer
        # does (agents_core/bulk.py, Staged.update).
        ids = [row[-1] for row in rows]
        write += f" AND t.id BETWEEN {int(min(ids))} AND {int(max(ids))}"
    cursor.execute(write.replace("{stage}", stage))


def _raw_alert_rows(cursor, ph, candidates, today, today_db, since_db, now_db) -> list[tuple]:
    if not candidates:
        return []
    ids = [c[0] for c in candidates]
    marks = ", ".join([ph] * len(ids))
    cursor.execute(
        f"SELECT account_id FROM {ChurnAlert._meta.db_table} "
        f"WHERE account_id IN ({marks}) AND raised_on > {ph}",
        [*ids, since_db],
    )
    cooling = {row[0] for row in cursor.fetchall()}
    fresh = [c for c in candidates if c[0] not in cooling]
    if not fresh:
        return []
    hs = HealthScore._meta.db_table
    marks = ", ".join([ph] * len(fresh))
    cursor.execute(
        f"SELECT h.account_id, h.breakdown FROM {hs} h WHERE h.account_id IN ({marks}) AND h.scored_on = "
        f"(SELECT max(p.scored_on) FROM {hs} p WHERE p.account_id = h.account_id AND p.scored_on < {ph})",
        [*(c[0] for c in fresh), today_db],
    )
    previous = {a: json.loads(b) if isinstance(b, str) else b for a, b in cursor.fetchall()}
    made = []
    for account_id, reasons, r, prev_score, arr, renewal, why in fresh:
        moved = engine.movement(previous.get(account_id, {}), r.breakdown)[:3]
        text = alert_rules.explain(
            reasons=reasons, score=r.score, previous_score=prev_score, churn_risk=r.churn_risk,
            churn_trigger=r.churn_trigger or "", moved=moved if account_id in previous else [],
            renewal_date=renewal, today=today, arr=arr,
        ) + (f" {why}" if why else "")  # fmt: skip
        made.append((account_id, today_db, now_db, reasons[0], json.dumps(reasons), text, r.score, prev_score,
                     r.rag, r.churn_risk, r.churn_trigger or "", json.dumps([list(m) for m in moved]),
                     str(arr), _sql_date(renewal), False, False))  # fmt: skip
    return made


def _raw_expansion(cursor, ph, limit: int) -> int:
    """The expansion check's reads and rules, raw: healthy accounts, their add-ons and open opportunities."""
    acc, sig = Account._meta, AccountSignals._meta
    through = Account.addons.through._meta.db_table
    addon_table = Account.addons.field.related_model._meta.db_table
    offers, plans = catalogue(), plan_terms()
    healthy = ", ".join(f"'{v}'" for v in HEALTHY_RAGS)
    calm = ", ".join(f"'{v}'" for v in CALM_CHURN)
    select = (
        f"SELECT a.id, a.rag, a.churn_risk, a.arr, a.seats_purchased, a.seats_used, a.plan, "
        f"s.usage_trend, s.feature_adoption_rate, s.stakeholder_engagement "
        f"FROM {acc.db_table} a LEFT JOIN {sig.db_table} s ON s.account_id = a.id "
        f"WHERE a.status <> 'churned' AND a.rag IN ({healthy}) AND a.churn_risk IN ({calm}) "
        f"AND a.id BETWEEN {ph} AND {ph} ORDER BY a.id"
    )
    open_statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    top: list[tuple] = []
    candidates = 0
    cursor.execute(f"SELECT id FROM {acc.db_table} WHERE status <> 'churned' ORDER BY id")
    scannable = [row[0] for row in cursor.fetchall()]
    size = opportunities.BATCH_SIZE  # the same batches as Tend's check
    for start in range(0, len(scannable), size):
        chunk = scannable[start : start + size]
        cursor.execute(select, (chunk[0], chunk[-1]))
        rows = cursor.fetchall()
        if not rows:
            continue
        marks = ", ".join([ph] * len(rows))
        ids = [row[0] for row in rows]
        cursor.execute(
            f"SELECT t.account_id, ad.key FROM {through} t JOIN {addon_table} ad ON ad.id = t.addon_id "
            f"WHERE t.account_id IN ({marks})",
            ids,
        )
        bought = defaultdict(set)
        for account_id, key in cursor.fetchall():
            bought[account_id].add(key)
        cursor.execute(
            f"SELECT account_id, kind FROM {ExpansionOpportunity._meta.db_table} "
            f"WHERE account_id IN ({marks}) AND status IN ({open_statuses})",
            ids,
        )
        open_pairs = set(cursor.fetchall())
        for pk, rag, churn, arr, purchased, used, plan, trend, adoption, engagement in rows:
            facts = AccountFacts(
                id=pk, rag=rag, churn_risk=churn, arr=arr, seats_purchased=purchased, seats_used=used,
                plan_seat_price=terms_for(plans, plan).seat_price, usage_trend=trend or None,
                feature_adoption_rate=adoption, stakeholder_engagement=engagement or None,
                owned=owned(plans, plan, bought.get(pk, ())),
            )  # fmt: skip
            for finding in find_opportunities(facts, offers):
                if (pk, finding.kind) in open_pairs:
                    continue
                candidates += 1
                entry = (goodness(finding), finding)
                if len(top) < limit:
                    heapq.heappush(top, entry)
                elif entry[0] > top[0][0]:
                    heapq.heapreplace(top, entry)
    return candidates


def naive_cycle(today: date, limit: int, *, alerts_on: bool = True, expansion: bool = True) -> int:
    """The per-account ORM loop for the cycle (or the scan alone), on the first `limit` accounts.

    Returns the accounts done.
    """
    profiles = load_active_profiles()
    offers, plans = catalogue(), plan_terms()
    since = today - timedelta(days=settings.TEND_ALERT_COOLDOWN_DAYS)
    done = 0
    for account in Account.objects.scannable().order_by("pk")[:limit]:
        signals = AccountSignals.objects.filter(account=account).first()
        values = {name: getattr(account, name) for name in ACCOUNT_FIELDS}
        inputs_from = {name: getattr(signals, name) if signals else None for name in SIGNAL_FIELDS}
        if account.tracked_adoption_rate is not None:
            inputs_from["feature_adoption_rate"] = account.tracked_adoption_rate
        profile_pk, profile = profiles.for_segment(account.segment)
        try:
            inputs, defaulted = derive_inputs(values, inputs_from, today, profile.no_data_defaults)
            r = engine.score(inputs, profile)
        except ValueError:
            continue
        why = explain_score(r.breakdown, profile.weights, score=r.score, rag=r.rag,
                            previous_score=account.health_score,
                            previous_rag=account.rag or None)  # fmt: skip
        HealthScore.objects.update_or_create(
            account=account, scored_on=today,
            defaults={"score": r.score, "rag": r.rag, "churn_risk": r.churn_risk,
                      "churn_trigger": r.churn_trigger or "", "breakdown": dict(r.breakdown),
                      "inputs": dict(r.inputs), "defaulted_inputs": defaulted, "profile_id": profile_pk,
                      "profile_version": r.profile_version, "computed_at": timezone.now(),
                      "explanation": why},
        )  # fmt: skip
        reasons = alerts_on and alert_rules.triggers(
            previous_score=account.health_score, previous_rag=account.rag, previous_churn=account.churn_risk,
            score=r.score, rag=r.rag, churn_risk=r.churn_risk, drop_points=profiles.drop_points[profile_pk],
        )  # fmt: skip
        if reasons and not ChurnAlert.objects.filter(account=account, raised_on__gt=since).exists():
            before = (
                HealthScore.objects.filter(account=account, scored_on__lt=today)
                .order_by("-scored_on")
                .first()
            )
            moved = engine.movement(before.breakdown if before else {}, r.breakdown)[:3]
            ChurnAlert.objects.get_or_create(
                account=account, raised_on=today,
                defaults={"raised_at": timezone.now(), "reason": reasons[0], "reasons": reasons,
                          "explanation": alert_rules.explain(
                              reasons=reasons, score=r.score, previous_score=account.health_score,
                              churn_risk=r.churn_risk, churn_trigger=r.churn_trigger or "",
                              moved=moved if before else [], renewal_date=account.renewal_date,
                              today=today, arr=account.arr) + f" {why}",
                          "score": r.score, "previous_score": account.health_score, "rag": r.rag,
                          "churn_risk": r.churn_risk, "churn_trigger": r.churn_trigger or "",
                          "moved": [list(m) for m in moved], "arr": account.arr,
                          "renewal_date": account.renewal_date},
            )  # fmt: skip
        account.health_score, account.rag, account.churn_risk = r.score, r.rag, r.churn_risk
        account.churn_trigger, account.scored_at = r.churn_trigger or "", timezone.now()
        account.save(update_fields=HEALTH_FIELDS)
        if expansion and r.rag in HEALTHY_RAGS and r.churn_risk in CALM_CHURN:
            bought = set(account.addons.values_list("key", flat=True))
            open_kinds = set(
                ExpansionOpportunity.objects.filter(account=account, status__in=OPEN_STATUSES).values_list(
                    "kind", flat=True
                )
            )
            facts = AccountFacts(
                id=account.pk, rag=r.rag, churn_risk=r.churn_risk, arr=account.arr,
                seats_purchased=account.seats_purchased, seats_used=account.seats_used,
                plan_seat_price=terms_for(plans, account.plan).seat_price,
                usage_trend=(signals.usage_trend if signals else "") or None,
                feature_adoption_rate=signals.feature_adoption_rate if signals else None,
                stakeholder_engagement=(signals.stakeholder_engagement if signals else "") or None,
                owned=owned(plans, account.plan, bought),
            )  # fmt: skip
            [f for f in find_opportunities(facts, offers) if f.kind not in open_kinds]
        done += 1
    return done


ESSENTIAL_TABLES = ("bench_essential_inputs", "bench_essential_scores", "bench_essential_accounts")
_ESSENTIAL_SCORE_COLUMNS = ["account_id", "scored_on", "score", "rag", "churn_risk", "breakdown", "inputs"]


def essential_floor(today: date, batch_size: int) -> tuple[int, float]:
    """The scan's essential work alone, for `benchmark_scan`: returns (accounts scored, seconds).

    An independent lower bound: tables of its own with no index but the unique one each needs,
    holding only what scoring reads and writes; read a batch of stored inputs, score each with the
    engine, insert its score row (upsert on the unique key) and update its account, one
    transaction a batch, through the driver (on PostgreSQL by `COPY` into a staging table, its
    fastest path, as `raw_cycle` writes). No derived inputs, no explanation, no alerts, none of
    Tend's 17 account indexes. Tend's scan against it is what everything else costs, the fixed
    costs of a run included. The tables are filled from the last stored scores (untimed) and
    dropped afterwards.
    """
    profile = load_active_profiles().for_segment("")[1]
    inputs_t, scores_t, accounts_t = ESSENTIAL_TABLES
    ph = "?" if connection.vendor == "sqlite" else "%s"
    day = _sql_date(today)
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        with transaction.atomic():
            for table in ESSENTIAL_TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            json_type = "json" if connection.vendor == "postgresql" else "text"  # as Tend stores scores
            cursor.execute(f"CREATE TABLE {inputs_t} (account_id integer PRIMARY KEY, inputs {json_type})")
            cursor.execute(
                f"CREATE TABLE {scores_t} (account_id integer, scored_on date, score real, rag text, "
                f"churn_risk text, breakdown {json_type}, inputs {json_type}, UNIQUE (account_id, scored_on))"
            )
            cursor.execute(
                f"CREATE TABLE {accounts_t} "
                "(id integer PRIMARY KEY, health_score real, rag text, churn_risk text)"
            )
            cursor.execute(
                f"INSERT INTO {inputs_t} SELECT account_id, inputs FROM {HealthScore._meta.db_table} "
                f"WHERE scored_on = {ph}",
                [day],
            )
            cursor.execute(f"INSERT INTO {accounts_t} (id) SELECT account_id FROM {inputs_t}")
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {inputs_t}, {accounts_t}")
        upsert = (
            f"INSERT INTO {scores_t} VALUES ({', '.join([ph] * 7)}) ON CONFLICT (account_id, scored_on) "
            "DO UPDATE SET score = excluded.score, rag = excluded.rag, churn_risk = excluded.churn_risk, "
            "breakdown = excluded.breakdown, inputs = excluded.inputs"
        )
        update = f"UPDATE {accounts_t} SET health_score = {ph}, rag = {ph}, churn_risk = {ph} WHERE id = {ph}"
        started = time.perf_counter()
        last_id = scored = 0
        while True:
            cursor.execute(
                f"SELECT account_id, inputs FROM {inputs_t} "
                f"WHERE account_id > {ph} ORDER BY account_id LIMIT {ph}",
                (last_id, batch_size),
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last_id = rows[-1][0]
            scores, accounts = [], []
            for account_id, stored in rows:
                r = engine.score(json.loads(stored) if isinstance(stored, str) else stored, profile)
                scores.append(
                    (account_id, day, r.score, r.rag, r.churn_risk, _json(r.breakdown), _json(r.inputs))
                )
                accounts.append((r.score, r.rag, r.churn_risk, account_id))
            with transaction.atomic():
                if connection.vendor == "postgresql":  # the driver's fastest path there, as raw_cycle's
                    _copied(
                        cursor,
                        scores_t,
                        _ESSENTIAL_SCORE_COLUMNS,
                        scores,
                        "INSERT INTO "
                        f"{scores_t} SELECT * FROM {{stage}} " + upsert[upsert.index("ON CONFLICT") :],
                    )
                    _copied(cursor, accounts_t, ["health_score", "rag", "churn_risk", "id"], accounts,
                            f"UPDATE {accounts_t} AS t SET health_score = v.health_score, rag = v.rag, "
                            "churn_risk = v.churn_risk FROM {stage} AS v WHERE t.id = v.id")  # fmt: skip
                else:
                    cursor.executemany(upsert, scores)
                    cursor.executemany(update, accounts)
            scored += len(rows)
        return scored, time.perf_counter() - started
    finally:
        with transaction.atomic():
            for table in ESSENTIAL_TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.close()
