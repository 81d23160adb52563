"""The report and the CSV show the decisions the results carry, with the rule behind each."""

from __future__ import annotations

import csv
import io

from experiments.report import render_report
from experiments.tables import render_csv
from experiments.verdict import annotate
from tests.experiments.test_report import NOW, _parse, _visible_text, make_one_day


def test_the_report_shows_each_decision_and_the_rule_that_produced_it() -> None:
    results, experiment, secondary = make_one_day()
    results["srm"] = {"p_value": 0.4, "mismatch": False}
    # The bandit converts significantly worse after the correction: a roll back.
    results["overall"]["comparisons"][0]["p_value_adjusted"] = 0.042
    annotate(results, {"holdout"}, primary="conversion_rate", planned=0.05)
    for document in secondary:
        annotate(document, {"holdout"}, primary="conversion_rate", planned=0.05)
    document = render_report(results, experiment, secondary=secondary, now=NOW)
    assert _parse(document).errors == []
    text = _visible_text(document)
    result = text.split("Result")[1].split("Every declared metric")[0]
    assert (
        "Decision for the experiment: roll back banditRule: roll back bandit: primary metric "
        "conversion_rate significantly worse: -12.0%, adjusted p = 0.042, below alpha 0.05"
        in result
    )
    assert "— significant. Decision: roll back." in result
    section = text.split("Every declared metric")[1].split("Can we trust it?")[0]
    assert (
        "conversion rateprimarybandit\u221212%(\u221221% to \u22122%)0.0210.042"
        "significantly worseroll backprimary metric conversion_rate significantly worse" in section
    )
    # A secondary metric is shown with its significance, not decided on.
    assert "click ratesecondarybandit+7%(1% to 13%)0.0020.020significantly better" in section
    assert "click ratesecondarybandit+7%(1% to 13%)0.0020.020significantly bettership" not in (
        section
    )
    assert "first rule that applies" in section
    assert "Spotify's risk-aware decision rule and GrowthBook's decision framework" in section
    programme = text.split("What the programme adds")[1].split("Lift by segment")[0]
    assert "rules over holdout (no offers): +" in programme
    assert "the programme's incremental value, not a decision." in programme
    rows = {
        row["variant"]: row["decision"]
        for row in csv.DictReader(io.StringIO(render_csv(results)))
        if row["scope"] == "overall"
    }
    assert rows == {"rules": "", "bandit": "roll_back", "holdout": "baseline"}


def test_a_broken_split_is_the_decision_that_heads_the_report() -> None:
    results, experiment, secondary = make_one_day()  # its traffic split fails the SRM check
    annotate(results, {"holdout"}, primary="conversion_rate", planned=0.05)
    text = _visible_text(render_report(results, experiment, secondary=secondary, now=NOW))
    result = text.split("Result")[1].split("Every declared metric")[0]
    assert result.lstrip().startswith(
        "Decision for the experiment: do not trust: traffic split mismatchRule: do not trust "
        "the results: SRM"
    )
