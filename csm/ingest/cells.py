"""Parsing one cell of an imported table: the rules every import shares.

The account CSV (crm_csv), the renewal outcomes CSV (csm.trust.outcomes) and
the Notion sync read cells through these, so "1,200" or "06/30/2026" mean the
same thing wherever they come from. A bad cell raises CellError with a
reason a person can act on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import tablib

DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")  # ISO, and the US format of Salesforce exports


def header_key(text: str) -> str:
    """A header or choice as written, compared without case, spaces, - or _."""
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower())


@dataclass
class Problem:
    line: int | str  # the CSV line, or the Notion page id
    column: str
    message: str


class CellError(ValueError):
    """One cell that cannot be read; the message says why."""


# Currency marks an amount may carry: ISO codes, and the symbols CRM exports write.
_CURRENCY = re.compile(
    r"^\s*(?P<pre>[A-Za-z]{3}|[$€£¥₹])?\s*(?P<num>.*?)\s*(?P<post>[A-Za-z]{3}|[$€£¥₹])?\s*$"
)
_SYMBOL_CODES = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_GROUPED = re.compile(r"-?\d{1,3}([.,' ]\d{3})+")


def parse_decimal(text: str, *, currency: str | None = None) -> Decimal:
    """An amount as CRM exports write it: "84500", "$84,500.00", "EUR 45.000", "45.000,50 €", "1'200".

    The last "." or "," followed by one or two digits is the decimal mark; the
    others group thousands, so "45.000" is forty-five thousand. An amount marked
    with a currency other than `currency` (the book's) is refused: Tend does not
    convert, and a figure silently read in the wrong currency is worse than none.
    """
    match = _CURRENCY.match(text)
    if match is None or not re.search(r"\d", match["num"]):
        raise CellError(f"not an amount: {text!r}")
    marks = {m for m in (match["pre"], match["post"]) if m}
    number = match["num"]
    for mark in marks:
        code = _SYMBOL_CODES.get(mark, mark.upper())
        if currency and code != currency and not (mark == "$" and currency.endswith("D")):
            raise CellError(f"{text!r} is in {code}; this book is in {currency} (TEND_CURRENCY)")
    number = number.replace("\u00a0", " ").strip()
    if _GROUPED.fullmatch(number):
        number = re.sub(r"[.,' ]", "", number)
    else:
        decimal_mark = re.search(r"[.,](\d{1,2})$", number)
        if decimal_mark:
            whole = re.sub(r"[.,' ]", "", number[: decimal_mark.start()])
            number = f"{whole}.{decimal_mark.group(1)}"
        else:
            number = re.sub(r"[,' ]", "", number)
    if not re.fullmatch(r"-?\d+(\.\d+)?", number):
        raise CellError(f"not an amount: {text!r}")
    try:
        return Decimal(number)
    except InvalidOperation:
        raise CellError(f"not an amount: {text!r}") from None


def parse_int(text: str) -> int:
    cleaned = text.replace(",", "").strip()
    if not re.fullmatch(r"-?\d+(\.0+)?", cleaned):
        raise CellError(f"not a whole number: {text!r}")
    return int(float(cleaned))


def parse_date(text: str) -> date:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise CellError(f"not a date (use YYYY-MM-DD or MM/DD/YYYY): {text!r}")


def choice_parser(values: dict[str, str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        try:
            return values[header_key(text)]
        except KeyError:
            raise CellError(f"unknown {what}: {text!r}") from None

    return parse


# Python's csv module refuses a field over this many characters; no CRM cell is near it.
MAX_CELL_CHARS = csv.field_size_limit()


def read_table(content: bytes | str) -> tablib.Dataset:
    """A CSV file as a table; CellError says why a file cannot be read at all."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CellError(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not content.strip():
        raise CellError("the file is empty")
    try:
        return tablib.Dataset().load(content, format="csv")
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise CellError(f"a cell is larger than {MAX_CELL_CHARS:,} characters") from None
        raise CellError(f"the file is not a readable CSV ({exc})") from None
