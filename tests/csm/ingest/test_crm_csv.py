from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from csm.ingest.crm_csv import import_accounts
from csm.models import Account, AccountSignals

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
GOOD = (DATA / "crm_export_good.csv").read_bytes()
BAD = (DATA / "crm_export_bad.csv").read_bytes()


@pytest.fixture
def owners(make_user):
    return make_user("maya", email="maya@example.com"), make_user("tom", email="tom@example.com")


def run(content, **kwargs):
    return import_accounts(content, today=timezone.localdate(), at=timezone.now(), **kwargs)


def test_dry_run_reports_the_mapping_and_changes_and_writes_nothing(owners, make_account):
    make_account(external_id="0015e00000KlMnO", name="Initech", owner=owners[0], arr=Decimal("9900"))
    report = run(GOOD, dry_run=True)
    assert report.ok, report.problems
    assert (report.rows, report.created, report.updated) == (3, 2, 1)
    assert report.mapping["Account ID"] == "external_id"
    assert report.mapping["Annual Recurring Revenue"] == "arr"
    assert report.mapping["Health Status"] == "tam_health_rag"
    assert report.mapping["Days Since Last Login"] == "login_frequency_days"
    assert report.ignored_columns == ["Industry"]
    update = next(c for c in report.changes if c["action"] == "update")
    assert update["external_id"] == "0015e00000KlMnO" and "name" in update["fields"]
    assert not report.written
    assert Account.objects.count() == 1
    assert Account.objects.get().name == "Initech"


def test_import_creates_and_updates_accounts_and_their_signals(owners):
    maya, tom = owners
    report = run(GOOD)
    assert report.ok and report.written
    northwind = Account.objects.get(external_id="0015e00000AbCdE")
    assert northwind.owner == maya  # by email
    assert northwind.segment == "mid_market" and northwind.arr == Decimal("84500.00")
    assert (northwind.seats_purchased, northwind.seats_used) == (120, 97)
    assert northwind.renewal_date == date(2027, 3, 1)  # US date format
    assert northwind.tam_health_rag == "GREEN"  # "On Track"
    signals = AccountSignals.objects.get(account=northwind)
    assert signals.feature_adoption_rate == pytest.approx(0.72)  # "72%"
    assert signals.nps_score == 9 and signals.avg_ticket_sentiment == "positive"
    assert signals.last_login_on == timezone.localdate() - timedelta(days=3)
    assert signals.sources["nps_score"]["source"] == "csv"
    globex = Account.objects.get(external_id="0015e00000FgHiJ")
    assert globex.owner == tom and globex.tam_health_rag == "AMBER" and globex.arr == Decimal("1240000")
    initech = Account.objects.get(external_id="0015e00000KlMnO")
    assert initech.contract_start is None and initech.primary_contact_email == ""
    assert AccountSignals.objects.get(account=initech).stakeholder_engagement == "medium"


def test_reimporting_the_same_file_changes_nothing(owners):
    run(GOOD)
    before = list(Account.objects.order_by("pk").values())
    report = run(GOOD, dry_run=True)
    assert report.created == 0 and report.updated == 3  # signals are re-stamped
    assert not [c for c in report.changes if c["action"] == "update" and set(c["fields"]) & {"name", "arr"}]
    run(GOOD)
    after = list(Account.objects.order_by("pk").values())
    assert [{k: v for k, v in a.items() if k != "updated_at"} for a in after] == [
        {k: v for k, v in b.items() if k != "updated_at"} for b in before
    ]


def test_bad_rows_are_listed_by_line_and_column_and_nothing_is_written(owners):
    report = run(BAD)
    assert not report.written
    problems = {(p.line, p.column) for p in report.problems}
    assert {
        (3, "external_id"),  # empty
        (4, "owner"), (4, "segment"), (4, "arr"), (4, "seats_purchased"), (4, "renewal_date"),
        (4, "nps_score"), (4, "feature_adoption_rate"), (4, "tam_health_rag"),
        (5, "external_id"),  # duplicate of line 2
        (6, "name"),  # new account without a name
    } <= problems, sorted(problems)  # fmt: skip
    messages = {(p.line, p.column): p.message for p in report.problems}
    assert "also on line 2" in messages[(5, "external_id")]
    assert "nobody@nowhere.example" in messages[(4, "owner")]
    assert Account.objects.count() == 0 and AccountSignals.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"Name,Plan\nAcme,Growth\n", "no external_id column"),
        ("Account ID,Name\nA1,Caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"Account ID,Name\nA\x001,Acme\n", "NUL"),
    ],
)
def test_unreadable_files_are_refused_clearly(owners, content, message):
    report = run(content)
    assert not report.ok and message in report.problems[0].message


def test_command_dry_run_output_and_exit_codes(owners, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(GOOD)
    bad.write_bytes(BAD)
    out = io.StringIO()
    call_command("import_accounts", str(good), "--dry-run", "--verbosity", "0", stdout=out)
    assert "Would create 3, update 0; 0 unchanged (3 rows)." in out.getvalue()
    assert Account.objects.count() == 0
    with pytest.raises(CommandError) as exc:
        call_command("import_accounts", str(bad), "--verbosity", "0", stdout=io.StringIO())
    assert exc.value.returncode == 1
    with pytest.raises(CommandError) as exc:
        call_command("import_accounts", str(tmp_path / "missing.csv"), stdout=io.StringIO())
    assert exc.value.returncode == 2
    call_command("import_accounts", str(good), "--verbosity", "0", stdout=out)
    assert Account.objects.count() == 3


def test_admin_upload_checks_then_imports(client, owners, make_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    manager = make_user("morgan", view_all=True)
    from django.contrib.auth.models import Permission

    manager.user_permissions.add(Permission.objects.get(codename="add_account"))
    client.force_login(manager)
    assert "Import CSV" in client.get("/admin/csm/account/").content.decode()

    page = client.post(
        "/admin/csm/account/import/", {"file": SimpleUploadedFile("b.csv", BAD), "dry_run": "on"}
    ).content.decode()
    assert "Refused: nothing was written" in page and "also on line 2" in page
    page = client.post(
        "/admin/csm/account/import/", {"file": SimpleUploadedFile("g.csv", GOOD), "dry_run": "on"}
    ).content.decode()
    assert "Dry run: nothing was written" in page and Account.objects.count() == 0
    response = client.post("/admin/csm/account/import/", {"file": SimpleUploadedFile("g.csv", GOOD)})
    assert "Imported" in response.content.decode()
    assert Account.objects.count() == 3


def test_a_csm_cannot_use_the_import_page(client, owners):
    client.force_login(owners[0])
    assert client.get("/admin/csm/account/import/").status_code == 403
    assert "Import CSV" not in client.get("/admin/csm/account/").content.decode()


@pytest.fixture
def crm_users(make_user):
    return (
        make_user("maya", email="maya@example.com", first_name="Maya", last_name="Okafor"),
        make_user("tom", email="tom@example.com", first_name="Tom", last_name="Reyes"),
    )


def test_a_hubspot_companies_export_as_it_comes(crm_users):
    maya, tom = crm_users
    report = run((DATA / "hubspot_companies.csv").read_bytes())
    assert report.ok, report.problems
    assert (
        report.mapping["Company owner"] == "owner" and report.mapping["Number of Seats"] == "seats_purchased"
    )
    assert (
        report.mapping["Record ID"] == "external_id" and report.mapping["Number of Employees"] == "employees"
    )
    # A company's revenue is not what it pays us: left alone, not read as ARR.
    assert "Annual Revenue" in report.ignored_columns
    echo = Account.objects.get(external_id="9876543210")
    assert echo.owner == maya  # by full name
    assert echo.seats_purchased == 300 and echo.arr == Decimal("310000")
    assert echo.segment == "enterprise"  # 1,450 employees
    fable = Account.objects.get(external_id="9876543211")
    assert fable.owner == tom and fable.segment == "smb"  # 45 employees
    gale = Account.objects.get(external_id="9876543212")
    assert gale.segment == "mid_market"  # no size given: by its $120,000 ARR


def test_a_salesforce_accounts_report_with_owners_by_full_name(crm_users):
    maya, tom = crm_users
    report = run((DATA / "salesforce_accounts_report.csv").read_bytes())
    assert report.ok, report.problems
    harbor = Account.objects.get(external_id="0015e00000QrStU")
    assert (harbor.owner, harbor.segment, harbor.seats_purchased) == (maya, "enterprise", 900)
    assert Account.objects.get(external_id="0015e00000VwXyZ").owner == tom


def test_a_full_name_two_people_share_is_refused_by_name(crm_users, make_user):
    make_user("maya2", email="maya.o@example.com", first_name="Maya", last_name="Okafor")
    report = run((DATA / "salesforce_accounts_report.csv").read_bytes())
    assert not report.ok and not report.written
    [problem] = report.problems
    assert problem.column == "owner" and "more than one user is called 'Maya Okafor'" in problem.message


def test_a_known_account_keeps_its_segment_when_the_export_has_none(crm_users, make_account):
    make_account(external_id="9876543210", name="Echo Insurance", segment="mid_market")
    run((DATA / "hubspot_companies.csv").read_bytes())
    assert Account.objects.get(external_id="9876543210").segment == "mid_market"
