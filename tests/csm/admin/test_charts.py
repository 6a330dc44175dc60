import re
from datetime import date, timedelta

from csm.admin import charts


def _points(svg: str) -> list[tuple[float, float]]:
    coords = re.search(r'<polyline[^>]* points="([^"]+)"', svg).group(1)
    return [tuple(map(float, p.split(","))) for p in coords.split()]


def test_health_trend_draws_each_score_on_the_rag_bands_with_text_labels():
    start = date(2026, 1, 1)
    points = [(start + timedelta(days=i), score) for i, score in enumerate([80, 60, 30])]
    svg = charts.health_trend(points, alerts=[(start + timedelta(days=2), "Entered RED")], green=70, amber=40)
    drawn = _points(svg)
    assert len(drawn) == 3
    # Higher scores sit higher (smaller y); time runs left to right.
    assert drawn[0][1] < drawn[1][1] < drawn[2][1]
    assert drawn[0][0] < drawn[1][0] < drawn[2][0]
    for label in ("GREEN", "AMBER", "RED", "2026-01-01", "2026-01-03"):
        assert f">{label}</text>" in svg
    assert "Alert on 2026-01-03: Entered RED" in svg
    assert 'aria-label="Health score from 2026-01-01 to 2026-01-03: 80.0 to 30.0 (3 scores, 1 alerts)"' in svg


def test_alerts_outside_the_charted_days_are_left_out_and_text_is_escaped():
    day = date(2026, 1, 1)
    svg = charts.health_trend(
        [(day, 50), (day + timedelta(days=1), 55)], alerts=[(day - timedelta(days=5), "x")]
    )
    assert "tend-alert-marker" not in svg
    svg = charts.health_trend([(day, 50)], alerts=[(day, "<script>")])
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_bands_follow_the_profiles_thresholds():
    day = date(2026, 1, 1)
    low = charts.health_trend([(day, 50)], green=60, amber=30)
    high = charts.health_trend([(day, 50)], green=80, amber=50)
    assert low != high
    assert ">60</text>" in low and ">80</text>" in high


def test_sparkline_shows_the_slide_and_ends_in_the_rag_colour():
    svg = charts.sparkline([70, 65, 50, 41], rag="AMBER")
    ys = [y for _, y in _points(svg)]
    assert ys == sorted(ys)  # falling score, rising y
    assert charts.RAG_COLOURS["AMBER"] in svg
    assert "Last 4 scores: 70 to 41" in svg
    assert "no history" in charts.sparkline([])


def test_bars_write_their_values_and_scale_to_the_largest():
    svg = charts.bars([("GREEN", 10, "#0f0"), ("RED", 5, "#f00")], label="By RAG")
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert ">10</text>" in svg and ">5</text>" in svg and ">GREEN</text>" in svg
    assert "nothing to show yet" in charts.bars([], label="By RAG")
