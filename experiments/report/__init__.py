"""Experiment results as one HTML file a marketer can open.

The report is read by people who will not ask a statistician what ``relative_ci`` means, so
every number is turned into a sentence or a labelled cell, and every verdict uses one rule
(``verdicts.is_significant``): the multiplicity-adjusted p-value when the results carry one,
else the raw p-value, against the experiment's alpha. The headline, the metrics table, the
forest plot's filled dots and the table of numbers therefore never disagree about what is
"significant"; the forest plot's colours follow the unadjusted interval it draws, so a bar is
never coloured by a number that is not on the page, and its legend names the correction behind
the dots. Decisions (ship, roll back, ...) are the ones the results carry
(``experiments.verdict``), shown with their rule and never re-derived here, so the report
cannot disagree with the JSON. The CSV of the same numbers is ``experiments.tables``.

The file must open anywhere, offline, attached to an e-mail: CSS is inline, charts are
base64 PNGs rendered with matplotlib's Agg canvas (no pyplot, so no global state between
calls), and there is no JavaScript. Every string from the input is escaped, because experiment
and segment names are typed by users and the file is opened in a browser.

Pure: results and experiment documents in, text out; nothing from ``engine`` or ``api``.

- ``page``: the document, its sections in reading order, and the settings they share;
- ``sections``: header, every declared metric, trust, variants and traffic, the programme;
- ``table``: the table of numbers, each cell tagged with its results column;
- ``charts``: the forest plot and the cumulative chart, with their descriptions in words;
- ``verdicts``: verdicts, decisions, headlines, the split check and power, in sentences;
- ``formatting``: numbers, intervals, dates and names as people read them;
- ``report.css``: the stylesheet inlined into the page.
"""

from experiments.report.page import render_report

__all__ = ["render_report"]
