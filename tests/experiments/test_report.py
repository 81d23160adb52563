"""The HTML report and CSV export, down to a screenshot from a real headless Chromium.

The fixture is built like real results (normal-theory lifts from plausible counts) so the
report is exercised with numbers of realistic size and sign, not placeholders.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import math
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from experiments.report import render_report
from experiments.tables import CSV_COLUMNS, render_csv
from tests.browser import headless_chromium
from tests.experiments.conftest import NboCli
from tests.experiments.documents import policy_variants

SEGMENTS = ("dormant_90d", "high_value", "new_customers", "mobile_first")
VARIANTS = ("control", "bandit", "holdout")
# Conversion rates per segment and variant: the bandit wins clearly in two segments.
RATES = {
    "dormant_90d": (0.021, 0.034, 0.015),
    "high_value": (0.052, 0.055, 0.041),
    "new_customers": (0.030, 0.043, 0.024),
    "mobile_first": (0.027, 0.028, 0.020),
}
UNITS = {"dormant_90d": 1900, "high_value": 1100, "new_customers": 1400, "mobile_first": 1700}
WEIGHTS = (0.45, 0.45, 0.10)


def _p_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def _arm(name: str, units: int, rate: float) -> dict[str, Any]:
    conversions = round(units * rate)
    return {
        "variant": name,
        "units": units,
        "conversions": conversions,
        "value": conversions / units,
        "revenue": round(conversions * 24.5, 2),
    }


def _compare(control: dict[str, Any], arm: dict[str, Any]) -> dict[str, Any]:
    p0, p1 = control["value"], arm["value"]
    se = math.sqrt(p0 * (1 - p0) / control["units"] + p1 * (1 - p1) / arm["units"])
    lift = p1 - p0
    relative = lift / p0
    # Delta method for the ratio p1 / p0 - 1.
    rel_se = math.sqrt(
        p1 * (1 - p1) / arm["units"] / p0**2 + p1**2 * p0 * (1 - p0) / control["units"] / p0**4
    )
    p_value = _p_two_sided(lift / se)
    return {
        "variant": arm["variant"],
        "absolute_lift": lift,
        "absolute_ci": [lift - 1.96 * se, lift + 1.96 * se],
        "relative_lift": relative,
        "relative_ci": [relative - 1.96 * rel_se, relative + 1.96 * rel_se],
        "p_value": p_value,
        "p_value_adjusted": min(1.0, p_value * 2),
        "chance_to_win": 0.5 * math.erfc(-(lift / se) / math.sqrt(2.0)),
    }


def _scope(units: int, rates: tuple[float, ...]) -> tuple[list[dict[str, Any]], list[Any]]:
    arms = [
        _arm(name, round(units * weight / 0.45), rate)
        for name, weight, rate in zip(VARIANTS, WEIGHTS, rates, strict=True)
    ]
    return arms, [_compare(arms[0], arm) for arm in arms[1:]]


def make_results() -> dict[str, Any]:
    segments = []
    for segment in SEGMENTS:
        arms, comparisons = _scope(UNITS[segment], RATES[segment])
        segments.append(
            {
                "segment": segment,
                "variants": arms,
                "comparisons": comparisons,
                "srm": {"p_value": 0.3 + 0.1 * len(segments), "mismatch": False},
            }
        )
    overall_arms = []
    for index, name in enumerate(VARIANTS):
        units = sum(s["variants"][index]["units"] for s in segments)
        conversions = sum(s["variants"][index]["conversions"] for s in segments)
        overall_arms.append(
            {
                "variant": name,
                "units": units,
                "conversions": conversions,
                "value": conversions / units,
                "revenue": round(conversions * 24.5, 2),
            }
        )
    start = date(2026, 11, 20)
    daily = []
    for day in range(14):
        for arm in overall_arms:
            # Cumulative rate: noisy early, settling towards the final value.
            wobble = math.sin(day * 1.7 + len(arm["variant"])) * 0.008 / (day + 1)
            daily.append(
                {
                    "day": (start + timedelta(days=day)).isoformat(),
                    "variant": arm["variant"],
                    "units": round(arm["units"] * (day + 1) / 14),
                    "value": arm["value"] + wobble,
                }
            )
    return {
        "experiment_id": "exp-1",
        "metric": "conversion_rate",
        "control": "control",
        "alpha": 0.05,
        "analysis": "frequentist",
        "srm": {"p_value": 0.41, "mismatch": False},
        "overall": {
            "variants": overall_arms,
            "comparisons": [_compare(overall_arms[0], arm) for arm in overall_arms[1:]],
        },
        "segments": segments,
        "daily": daily,
        "power": {
            "minimum_detectable_effect": 0.1,
            "power": 0.62,
            "days_to_significance": 6.4,
            "additional_units": 4210.0,
        },
    }


def make_experiment() -> dict[str, Any]:
    return {
        "name": "Personalised offers vs current rules",
        "hypothesis": "Ranking offers with a contextual bandit raises conversion over our "
        "current business rules, most of all for dormant customers.",
        "status": "running",
        "channels": ["web", "email"],
        "segments": [],
        "traffic": 1.0,
        "variants": [
            {"id": "control", "weight": 0.45, "treatment": {"policy": "rules"}},
            {"id": "bandit", "weight": 0.45, "treatment": {"policy": "bandit", "name": "linucb"}},
            {"id": "holdout", "weight": 0.10, "treatment": {"policy": "holdout"}},
        ],
        "control": "control",
        "primary_metric": "conversion_rate",
        "minimum_detectable_effect": 0.1,
        "alpha": 0.05,
        "analysis": "frequentist",
        "phase": 1,
        "started_at": "2026-11-20T09:00:00Z",
    }


VOID = frozenset({"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"})


class _Balance(HTMLParser):
    """Checks tags nest: a stray escape bug shows up as an unbalanced document."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.stack or self.stack[-1] not in ("style", "title"):
            self.text.append(data)


def _parse(document: str) -> _Balance:
    parser = _Balance()
    parser.feed(document)
    parser.close()
    return parser


def _visible_text(document: str) -> str:
    return re.sub(r"\s+", " ", "".join(_parse(document).text))


def test_report_tells_the_story_a_marketer_needs() -> None:
    results, experiment = make_results(), make_experiment()
    document = render_report(results, experiment)
    parser = _parse(document)
    assert parser.errors == []
    assert parser.stack == []
    text = _visible_text(document)

    assert document.startswith("<!DOCTYPE html>")
    assert "Personalised offers vs current rules" in text
    assert "Ranking offers with a contextual bandit" in text
    assert "running" in text
    bandit = results["overall"]["comparisons"][0]
    lift = round(bandit["relative_lift"] * 100)
    low, high = (f"{round(x * 100)}".replace("-", "\u2212") for x in bandit["relative_ci"])
    assert f"bandit converts {lift}% better than control (95% interval {low}% to {high}%)" in text
    assert "— significant." in text
    # The holdout is the programme's baseline, not a competitor with a headline of its own.
    assert "holdout converts" not in text
    assert "Offers vs no offers (holdout)" in text
    for segment in SEGMENTS:
        assert f"Segment: {segment}" in text
    for variant in VARIANTS:
        assert variant in text
    assert "Traffic split OK (p = 0.410)" in text
    assert "control vs bandit need about 4,210 more customers between them" in text
    assert "(about 4,678 more in the whole experiment)" in text
    assert "about 7 more days at current traffic" in text
    assert "Personalised offers (learning policy linucb)" in text
    assert "No offer (holdout)" in text
    assert "45.0%" in text  # planned share
    # Two charts, embedded; nothing is fetched and nothing runs.
    assert document.count('src="data:image/png;base64,') == 2
    assert "<script" not in document.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", document)


def test_headline_says_not_significant_yet_for_a_young_experiment() -> None:
    results = make_results()
    for comparison in results["overall"]["comparisons"]:
        comparison["p_value"] = 0.2
        comparison["p_value_adjusted"] = 0.4
    text = _visible_text(render_report(results, make_experiment()))
    assert "p = 0.200 (adjusted 0.400) — not significant yet." in text
    stopped = {**make_experiment(), "status": "stopped"}
    assert "— not significant." in _visible_text(render_report(results, stopped))


def test_srm_mismatch_is_shouted() -> None:
    results = make_results()
    results["srm"] = {"p_value": 0.00002, "mismatch": True}
    results["segments"][1]["srm"] = {"p_value": 0.0004, "mismatch": True}
    text = _visible_text(render_report(results, make_experiment()))
    assert "Sample ratio mismatch (p < 0.001)" in text
    assert "Segments with a split mismatch: high_value." in text
    assert "split mismatch (p < 0.001)" in text


def test_every_input_string_is_escaped() -> None:
    evil = "<script>alert('x')</script>"
    experiment = {**make_experiment(), "name": evil, "hypothesis": evil, "status": evil}
    results = make_results()
    results["segments"][0]["segment"] = evil
    results["overall"]["comparisons"][0]["variant"] = '"><img src=x onerror=alert(1)>'
    results["metric"] = "activity:<b>bold</b>"
    document = render_report(results, experiment)
    assert "<script" not in document.lower()
    assert "<img src=x" not in document
    assert "<b>bold" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in document
    assert _parse(document).errors == []


def test_missing_and_nan_values_render_as_dashes() -> None:
    results = make_results()
    nan = float("nan")
    comparison = results["overall"]["comparisons"][0]
    comparison.update(
        relative_lift=nan,
        relative_ci=[None, math.inf],
        p_value=None,
        p_value_adjusted=nan,
        chance_to_win="n/a",
        absolute_ci=None,
    )
    results["segments"][2]["variants"][1].update(units=None, value=nan, revenue=math.inf)
    results["segments"][3]["comparisons"] = []
    results["segments"][3]["srm"] = None
    results["power"] = {"minimum_detectable_effect": None, "additional_units": nan}
    results["daily"] = [{"day": "not a date", "variant": "control", "value": 0.1}]
    results["srm"] = {}
    document = render_report(results, make_experiment())
    text = _visible_text(document)
    assert _parse(document).errors == []
    assert "nan" not in text.lower().replace("personalised", "")
    assert "inf" not in text.lower().replace("info", "")
    assert "bandit: no estimate against control yet: the results carry no estimate" in text
    assert "\u2013" in text
    assert "No daily numbers yet." in text
    assert "Traffic split not checked yet." in text
    assert "declares no minimum detectable effect, so there is no sample size to reach" in text


def test_report_survives_nearly_empty_documents() -> None:
    document = render_report({}, {})
    assert _parse(document).errors == []
    text = _visible_text(document)
    assert "No comparison with control yet." in text
    assert "No comparisons to plot yet." in text
    # Odd types where mappings and lists belong.
    weird: dict[str, Any] = {"overall": [], "segments": "x", "srm": 3, "power": [1, {}]}
    assert "</html>" in render_report(weird, {"variants": None, "name": 7})


def test_csv_has_one_row_per_scope_and_variant() -> None:
    results = make_results()
    results["segments"][0]["variants"][0]["value"] = float("nan")
    results["segments"][1]["segment"] = "=HYPERLINK(1)"
    rows = list(csv.DictReader(io.StringIO(render_csv(results))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == (1 + len(SEGMENTS)) * len(VARIANTS)
    overall = [r for r in rows if r["scope"] == "overall"]
    assert [r["variant"] for r in overall] == list(VARIANTS)
    assert {r["segment"] for r in overall} == {""}
    bandit = next(r for r in overall if r["variant"] == "bandit")
    expected = results["overall"]["comparisons"][0]
    assert float(bandit["relative_lift"]) == expected["relative_lift"]
    assert float(bandit["relative_ci_high"]) == expected["relative_ci"][1]
    assert bandit["srm_mismatch"] == "false"
    control = next(r for r in overall if r["variant"] == "control")
    assert control["is_control"] == "true"
    assert control["relative_lift"] == ""
    segments = [r["segment"] for r in rows if r["scope"] == "segment"]
    assert segments[:: len(VARIANTS)] == ["dormant_90d", "'=HYPERLINK(1)", *SEGMENTS[2:]]
    first = next(r for r in rows if r["segment"] == "dormant_90d")
    assert first["value"] == ""
    assert first["units"] == str(results["segments"][0]["variants"][0]["units"])


def test_inputs_are_not_mutated() -> None:
    results, experiment = make_results(), make_experiment()
    before = copy.deepcopy((results, experiment))
    render_report(results, experiment)
    render_csv(results)
    assert (results, experiment) == before


# Lines Chromium logs for the page's console (errors, failed loads, CSP violations).
PAGE_CONSOLE = re.compile(r"CONSOLE|Uncaught|Failed to load resource|Refused to", re.IGNORECASE)


def screenshot(document: str, directory: Path, size: str = "1280,2400") -> tuple[Path, str]:
    """Renders ``document`` in headless Chromium; returns the PNG and Chromium's stderr."""
    page = directory / "report.html"
    page.write_text(document, encoding="utf-8")
    png = directory / "report.png"
    completed = headless_chromium(
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={png}",
        f"--window-size={size}",
        page.as_uri(),
    )
    return png, completed.stderr


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    png, stderr = screenshot(render_report(make_results(), make_experiment()), tmp_path)
    assert png.exists(), f"no screenshot; chromium said:\n{stderr[-4000:]}"
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, f"suspiciously small screenshot ({len(data)} bytes)"
    console = [line for line in stderr.splitlines() if PAGE_CONSOLE.search(line)]
    assert console == [], "the page logged console errors:\n" + "\n".join(console)


# --- a one-day experiment with a holdout, as the demo makes it (issue: "a report that reads
# true") ----------------------------------------------------------------------------------------

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NOW = START + timedelta(hours=6)


def make_one_day() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Results (primary metric), the experiment and the secondary metrics' results of a
    three-variant experiment (rules, bandit, holdout) six hours after its start."""
    arms = [
        _arm("rules", 25_000, 0.030),
        _arm("bandit", 25_000, 0.028),
        _arm("holdout", 12_500, 0.004),
    ]
    arms[0]["units"] = 25_000
    comparisons = [_compare(arms[0], arm) for arm in arms[1:]]
    # The bandit's bar lies wholly below zero, but not after the Holm correction.
    comparisons[0].update(
        relative_lift=-0.12, relative_ci=[-0.21, -0.02], p_value=0.021, p_value_adjusted=0.084
    )
    results: dict[str, Any] = {
        "experiment_id": "exp-demo",
        "metric": "conversion_rate",
        "control": "rules",
        "alpha": 0.05,
        "analysis": "frequentist",
        "phase": 1,
        "srm": {"p_value": 0.00002, "mismatch": True},
        "overall": {"variants": arms, "comparisons": comparisons},
        "segments": [
            {
                "segment": "dormant_90d",
                "variants": [
                    {"variant": v, "units": 40, "conversions": 0, "value": 0.0, "revenue": 0.0}
                    for v in ("rules", "bandit", "holdout")
                ],
                "comparisons": [
                    {
                        "variant": v,
                        "absolute_lift": None,
                        "absolute_ci": [None, None],
                        "relative_lift": None,
                        "relative_ci": [None, None],
                        "p_value": None,
                        "error": "ZERO_VARIANCE",
                        "chance_to_win": None,
                    }
                    for v in ("bandit", "holdout")
                ],
                "srm": {"p_value": 0.7, "mismatch": False},
            }
        ],
        "daily": [
            {
                "day": "2026-12-02",
                "variant": arm["variant"],
                "units": arm["units"],
                "value": arm["value"],
            }
            for arm in arms
        ],
        "multiple_testing": {"method": "holm", "family_size": 12},
        "power": {
            "minimum_detectable_effect_now": 0.083,
            "minimum_detectable_effect": 0.05,
            "days_to_significance": 2.4,
            "additional_units": 62656.12,
            "binary_metric": True,
        },
        "guardrails": [
            {
                "metric": "click_rate",
                "variant": "bandit",
                "verdict": "warning",
                "estimate": -0.031,
                "p_value": 0.18,
            },
            {
                "metric": "click_rate",
                "variant": "holdout",
                "verdict": "failing",
                "estimate": -1.0,
                "p_value": 0.0000001,
            },
        ],
    }
    experiment = {
        "name": "Personalisation vs rules",
        "hypothesis": "A contextual bandit converts better than our business rules.",
        "status": "running",
        "channels": ["web"],
        "variants": policy_variants(
            ("rules", 0.4, "rules"), ("bandit", 0.4, "bandit"), ("holdout", 0.2, "holdout")
        ),
        "control": "rules",
        "primary_metric": "conversion_rate",
        "secondary_metrics": ["click_rate", "revenue_per_unit"],
        "guardrail_metrics": ["click_rate"],
        "minimum_detectable_effect": 0.05,
        "alpha": 0.05,
        "analysis": "frequentist",
        "phase": 1,
        "started_at": "2026-12-02T09:00:00Z",
    }
    clicks = copy.deepcopy(results)
    clicks["metric"] = "click_rate"
    clicks["overall"]["comparisons"][0].update(
        relative_lift=0.071, relative_ci=[0.01, 0.13], p_value=0.002, p_value_adjusted=0.02
    )
    return results, experiment, [clicks]


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.alts: list[str] = []
        self.pngs: list[bytes] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.alts.append(found.get("alt") or "")
            src = found.get("src") or ""
            self.pngs.append(base64.b64decode(src.removeprefix("data:image/png;base64,")))


def _images(document: str) -> _Images:
    parser = _Images()
    parser.feed(document)
    return parser


def test_a_one_day_experiment_is_drawn_in_hours_inside_its_own_range() -> None:
    results, experiment, secondary = make_one_day()
    document = render_report(results, experiment, secondary=secondary, now=NOW)
    over_time = _images(document).alts[1]
    assert "Time axis from 0 h to 6 h (hours since the start)" in over_time
    assert "ticks 0 h, 1 h, 2 h, 3 h, 4 h, 5 h, 6 h" in over_time
    # Today's point is now, at the right end, not on some day outside the experiment.
    assert "points from 6 h to 6 h" in over_time
    text = _visible_text(document)
    assert "Started: 2 Dec 2026, 09:00 UTC" in text
    assert "Running for 6 hours" in text
    assert "Report made 2 Dec 2026, 15:00 UTC" in text


def test_a_longer_experiment_has_full_dates_with_years_and_no_point_outside() -> None:
    experiment = make_experiment()  # started 20 Nov 2026 09:00, 14 days of data
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    over_time = _images(render_report(make_results(), experiment, now=now)).alts[1]
    assert "Time axis from 20 Nov 2026 to 3 Dec 2026 (dates)" in over_time
    assert "points from 21 Nov 2026 to 3 Dec 2026" in over_time
    ticks = over_time.split("ticks ")[1].split(";")[0].split(", ")
    days = [datetime.strptime(tick, "%d %b %Y").date() for tick in ticks]
    assert len(days) >= 4, ticks
    assert all(date(2026, 11, 20) <= day <= date(2026, 12, 3) for day in days), ticks


def _pixels_near(png: bytes, colour: str) -> int:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).sum(axis=2) < 30).sum())


def test_bar_colour_follows_the_interval_drawn_and_the_legend_names_the_correction() -> None:
    results, experiment, secondary = make_one_day()
    results["segments"] = []
    document = render_report(results, experiment, secondary=secondary, now=NOW)
    images = _images(document)
    forest_alt, forest_png = images.alts[0], images.pngs[0]
    # One bar (the holdout is not a competitor): wholly below zero, so red, though the
    # adjusted p-value (0.084) is not significant: the dot is hollow and the words say so.
    assert (
        "All customers \u00b7 bandit: \u221212% [\u221221%, \u22122%], red, interval below zero, "
        "not significant after correction" in forest_alt
    )
    assert _pixels_near(forest_png, "#cf222e") > 200
    text = _visible_text(document)
    assert "the Holm correction over 12 comparisons" in text
    assert "Colour follows the bar drawn" in text


def test_the_holdout_is_the_programme_baseline_not_a_competitor() -> None:
    results, experiment, secondary = make_one_day()
    document = render_report(results, experiment, secondary=secondary, now=NOW)
    text = _visible_text(document)
    assert "holdout converts" not in text
    assert "holdout" not in _images(document).alts[0]
    assert "What the programme adds" in text
    holdout = results["overall"]["comparisons"][1]
    rules, _bandit, none = results["overall"]["variants"]
    lift = rules["value"] / none["value"] - 1
    assert f"rules(control){rules['value'] * 100:.2f}%{none['value'] * 100:.2f}%" in text
    assert f"+{lift * 100:.0f}%" in text
    # The interval is the holdout's, turned round: c/h - 1 from h/c - 1.
    low, high = holdout["relative_ci"]
    inverted = f"{(1 / (1 + high) - 1) * 100:.0f}% to {(1 / (1 + low) - 1) * 100:.0f}%"
    assert inverted in text
    assert "baseline (no offers), not a competitor" in text


def test_every_declared_metric_is_shown_with_its_verdict_and_guardrail_status() -> None:
    results, experiment, secondary = make_one_day()
    text = _visible_text(render_report(results, experiment, secondary=secondary, now=NOW))
    section = text.split("Every declared metric")[1].split("Can we trust it?")[0]
    assert (
        "conversion rateprimarybandit\u221212%(\u221221% to \u22122%)0.0210.084not significant yet"
        in section
    )
    assert "click rateprimary" not in section
    assert "click ratesecondarybandit+7%(1% to 13%)0.0020.020significantly better" in section
    assert "revenue per unitsecondaryno estimate: its results were not passed" in section
    assert "click rateguardrailbandit\u22123%0.180(one-sided)\u2013guardrail warning" in section
    # the holdout is the programme's baseline: no offers cost clicks by design, which is no
    # harm a guardrail should report (a status for it, even from older results, is left out)
    assert "click rateguardrailholdout" not in section
    assert "guardrail failing" not in section


def test_numbers_are_for_people_and_power_says_what_is_needed_and_when() -> None:
    results, experiment, secondary = make_one_day()
    results["overall"]["variants"][0]["units"] = 62656.12
    text = _visible_text(render_report(results, experiment, secondary=secondary, now=NOW))
    assert "p = <" not in text
    assert "Sample ratio mismatch (p < 0.001)" in text
    assert "62,656" in text
    assert "62,656.12" not in text
    assert "62656" not in text
    assert "per variant)" not in text
    assert (
        "To detect the planned 5% lift, rules vs bandit need about 62,657 more customers "
        "between them (about 78,321 more in the whole experiment): about 3 more days at "
        "current traffic, around 5 Dec 2026." in text
    )
    assert "With the customers so far, rules vs bandit can detect a relative lift of 8.3%" in text


def test_every_missing_estimate_says_why() -> None:
    results, experiment, secondary = make_one_day()
    text = _visible_text(render_report(results, experiment, secondary=secondary, now=NOW))
    assert "no estimate yet" not in text
    assert "no estimate: no spread to measure yet (e.g. nobody converted in either arm)" in text
    results["power"] = {}
    text = _visible_text(render_report(results, experiment, now=NOW))
    assert "Power not computed yet" not in text
    assert "Not computed: it needs at least two customers in control and a variant" in text
    results["power"] = {"minimum_detectable_effect_now": 0.2}
    text = _visible_text(
        render_report(results, {**experiment, "minimum_detectable_effect": None}, now=NOW)
    )
    assert "declares no minimum detectable effect, so there is no sample size to reach" in text
    results["power"] = {"minimum_detectable_effect": 0.05, "additional_units": None}
    text = _visible_text(render_report(results, experiment, now=NOW))
    assert "How many customers the planned 5% lift needs cannot be computed yet:" in text


def test_one_day_report_renders_in_chromium_for_the_closing_note(tmp_path: Path) -> None:
    results, experiment, secondary = make_one_day()
    document = render_report(results, experiment, secondary=secondary, now=NOW)
    assert "<script" not in document.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", document)
    png, stderr = screenshot(document, tmp_path, size="1280,3600")
    assert png.exists(), f"no screenshot; chromium said:\n{stderr[-4000:]}"
    console = [line for line in stderr.splitlines() if PAGE_CONSOLE.search(line)]
    assert console == [], "the page logged console errors:\n" + "\n".join(console)
    assert len(png.read_bytes()) > 20_000


async def test_the_cli_report_shows_every_declared_metric_from_the_store(
    client: Any, role_keys: Any, tmp_path: Path, nbo: NboCli
) -> None:
    from tests.experiments.test_experiment_results import EXPERIMENT, send, start_experiment

    body = {
        **EXPERIMENT,
        "secondary_metrics": ["click_rate", "revenue_per_unit"],
        "guardrail_metrics": ["click_rate"],
    }
    await start_experiment(client, role_keys, "exp-m", body)
    for i in range(40):
        await send(client, role_keys, f"m-{i}", "conversion" if i % 4 == 0 else "", value=9.0)
    target = tmp_path / "report.html"
    await nbo("report", "exp-m", "--output", str(target))
    section = _visible_text(target.read_text()).split("Every declared metric")[1]
    section = section.split("Can we trust it?")[0]
    assert "conversion rateprimarybandit" in section
    assert "click ratesecondarybandit" in section
    assert "revenue per unitsecondarybandit" in section
    assert "not passed to this report" not in section
    assert "click rateguardrailbandit" in section
