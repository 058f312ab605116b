"""The chart layer: each builder gives a valid Vega-Lite spec with its data attached and a table of the same
data; the same spec renders statically (SVG, PNG, PDF) with Chinese text; the page include embeds it; the
vendored bundle is what `bcrm vendor_charts` generates."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import unquote

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from hypothesis import given, settings
from hypothesis import strategies as st

from bcrm.ui import charts
from bcrm.web.management.commands import vendor_charts

EDGES = [0.0, 0.25, 0.5, 0.75, 1.0]


def histogram(**kw):
    args = {"edges": EDGES, "upper": [0, 0, 2, 5], "lower": [10, 7, 3, 0], "threshold": 0.6,
            "labels": ("高价值客户", "一般客户")}
    args.update(kw)
    return charts.histogram_with_line(args.pop("edges"), args.pop("upper"), args.pop("lower"), args.pop("threshold"),
                                      args.pop("labels"), title="得分分布", **args)


def test_histogram_spec_is_valid_vega_lite_with_the_line_and_stacked_bins():
    chart = histogram()
    spec = charts.validated(chart)
    assert spec["datasets"]["line"] == [{"threshold": 0.6, "text": "Dividing line 0.600", "right": True}]
    bins = spec["datasets"]["bins"]
    # lower class at the bottom of each bin, the upper class stacked on it
    third = [b for b in bins if b["start"] == 0.5]
    assert {(b["class"], b["y0"], b["y1"]) for b in third} == {("一般客户", 0, 3), ("高价值客户", 3, 5)}
    assert chart.columns == ["Score from", "Score to", "高价值客户", "一般客户"]
    assert chart.rows[2] == ["0.5000", "0.7500", 2, 3]
    assert spec["width"] == "container"


def test_no_line_when_there_is_no_threshold():
    assert histogram(threshold=None).spec["datasets"]["line"] == []


def test_lorenz_bar_and_heatmap_specs_are_valid():
    lorenz = charts.lorenz([[0, 0], [0.1, 0.5], [0.5, 0.9], [1, 1]], marker=(0.2, 0.7), title="Lorenz")
    spec = charts.validated(lorenz)
    assert spec["datasets"]["marker"][0]["text"] == "20.0% of clients hold 70.0%"
    assert lorenz.rows[1] == ["10.0%", "50.0%"]
    bars = charts.bar(["前五", "pareto"], [55, 277], highlight="pareto", x_title="Clients")
    spec = charts.validated(bars)
    assert [b["highlight"] for b in spec["datasets"]["bars"]] == [False, True]
    heat = charts.heatmap([[40, 3, 0], [2, 200, 1], [0, 5, 20]], ["高价值客户", "一般客户", "数据不足"],
                          row_title="Run 1", col_title="Run 2")
    spec = charts.validated(heat)
    assert len(spec["datasets"]["cells"]) == 9
    assert heat.rows[1] == ["一般客户", 2, 200, 1]
    assert heat.columns[1:] == ["高价值客户", "一般客户", "数据不足"]


def test_a_shared_definition_is_never_changed_by_a_later_chart():
    first = histogram()
    before = json.dumps(first.spec, sort_keys=True)
    histogram(upper=[1, 1, 1, 1], lower=[0, 0, 0, 0], threshold=0.1)
    assert json.dumps(first.spec, sort_keys=True) == before


def test_the_same_chart_is_drawn_once_and_other_figures_again(monkeypatch):
    drawn = []
    real = charts._vlc()

    class Counting:
        def vegalite_to_svg(self, spec, **kwargs):
            drawn.append(spec)
            return real.vegalite_to_svg(spec, **kwargs)

    charts._svg.cache_clear()
    monkeypatch.setattr(charts, "_vlc", Counting)
    first = histogram().svg()
    assert histogram().svg() == first and len(drawn) == 1  # the same figures: drawn once
    other = histogram(upper=[1, 1, 1, 1], lower=[0, 0, 0, 0], threshold=0.1).svg()
    assert other != first and len(drawn) == 2
    assert histogram().svg(width=300) != first and len(drawn) == 3  # another width is another drawing
    charts._svg.cache_clear()


def test_svg_renders_with_the_chinese_labels():
    chart = histogram()
    svg = chart.svg()
    assert svg.startswith("<svg") and "高价值客户" in svg and "一般客户" in svg and "得分分布" in svg
    heat_svg = charts.heatmap([[1, 2], [3, 4]], ["战略合作伙伴", "普通客户"]).svg(width=300)
    assert "战略合作伙伴" in heat_svg


def test_png_and_pdf_render():
    chart = charts.lorenz([[0, 0], [0.2, 0.8], [1, 1]], marker=(0.2, 0.8), title="集中度")
    assert chart.png(scale=1).startswith(b"\x89PNG")
    assert chart.pdf().startswith(b"%PDF")


def test_csv_of_the_table_view_reads_back_in_a_spreadsheet():
    chart = histogram()
    text = chart.csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == chart.columns and rows[1] == ["0.0000", "0.2500", "0", "10"]
    uri = chart.csv_data_uri
    assert uri.startswith("data:text/csv;charset=utf-8,")
    decoded = unquote(uri.split(",", 1)[1])
    assert decoded.startswith("\ufeff") and "高价值客户" in decoded


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1, max_size=40),
       st.none() | st.floats(0, 1))
@settings(max_examples=60, deadline=None)
def test_histogram_table_and_spec_agree_with_the_counts(counts, threshold):
    edges = [i / len(counts) for i in range(len(counts) + 1)]
    upper, lower = [c[0] for c in counts], [c[1] for c in counts]
    chart = charts.histogram_with_line(edges, upper, lower, threshold, ("A", "B"))
    assert [r[2] for r in chart.rows] == upper and [r[3] for r in chart.rows] == lower
    bins = chart.spec["datasets"]["bins"]
    assert sum(b["count"] for b in bins if b["class"] == "A") == sum(upper)
    assert all(b["y1"] - b["y0"] == b["count"] for b in bins)
    assert len(chart.spec["datasets"]["line"]) == (threshold is not None)


@given(st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(st.integers(0, 10**6), min_size=n, max_size=n),
                                                    min_size=n, max_size=n)))
@settings(max_examples=40, deadline=None)
def test_heatmap_cells_match_the_matrix(matrix):
    labels = [f"L{i}" for i in range(len(matrix))]
    chart = charts.heatmap(matrix, labels)
    cells = {(c["row"], c["col"]): c["count"] for c in chart.spec["datasets"]["cells"]}
    assert all(cells[(labels[i], labels[j])] == matrix[i][j] for i in range(len(matrix)) for j in range(len(matrix)))


def test_the_page_include_embeds_the_spec_and_the_table():
    chart = histogram(key="dist-7")
    page = render_to_string("web/_chart.html", {"chart": chart})
    spec = re.search(r'<script id="chart-dist-7-spec" type="application/json">(.*?)</script>', page, re.S)
    assert spec and json.loads(spec.group(1))["datasets"]["line"][0]["threshold"] == 0.6
    assert 'data-vega-spec="chart-dist-7-spec"' in page
    assert "<table" in page and "<th scope=\"row\">0.5000</th>" in page
    assert 'download="dist-7.csv"' in page
    assert "/static/web/vendor/vega-bundle.js" in page
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)  # nothing from another host


def test_the_vendored_bundle_is_what_vendor_charts_generates():
    call_command("vendor_charts", "--check", stdout=io.StringIO())
    bundle = (vendor_charts.VENDOR / vendor_charts.BUNDLE).read_text(encoding="utf-8")
    assert "window.vegaEmbed" in bundle
    # nothing in it is fetched from the network: the only URLs are names (schema ids, SVG namespaces)
    # and the Vega editor link, whose menu entry the pages switch off.
    urls = set(re.findall(r"https?://[A-Za-z0-9./_-]+", bundle))
    assert urls <= {"http://www.w3.org/1999/xlink", "http://www.w3.org/2000/svg", "http://www.w3.org/2000/xmlns/",
                    "https://github.com/vega/vega-lite/issues/2415", "https://vega.github.io/editor/",
                    "https://vega.github.io/schema/vega/v6.json"}, urls
    assert (vendor_charts.VENDOR / vendor_charts.LICENSE).exists()
    assert "vega-lite" in (vendor_charts.VENDOR / vendor_charts.VERSION).read_text()


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [float("inf"), 0.0]])
def test_non_finite_values_become_gaps_not_invalid_json(bad):
    chart = charts.bar(["a", "b"], bad)
    json.loads(json.dumps(chart.spec, allow_nan=False))
