"""Server-side SVG charts: well-formed XML, points where the data puts them, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from readerstudy.core.charts import (
    Curve,
    Point,
    calibration_chart,
    histogram_chart,
    line_chart,
    roc_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def test_roc_chart_places_curve_and_reader_points_in_the_unit_square() -> None:
    svg = roc_chart(
        title="ENE <vs> rest",
        curves=[Curve("Model & co", [0, 0.1, 1], [0, 0.8, 1])],
        points=[Point("R1", 0.2, 0.7), Point("Reader mean", 0.15, 0.75)],
        size=360,
    )
    root = ET.fromstring(svg)  # raises if the markup or the escaping is broken
    assert root.find(f"{SVG}title").text == "ENE <vs> rest"
    curve = root.find(f".//{SVG}polyline[@class='curve']")
    first, _, last = curve.get("points").split()
    # frame: left 52, right 16, top 16, bottom 44 -> (0,0) at (52, 316), (1,1) at (344, 16)
    assert first == "52.0,316.0" and last == "344.0,16.0"
    r1 = root.findall(f".//{SVG}circle[@class='point']")[0]
    assert (float(r1.get("cx")), float(r1.get("cy"))) == (52 + 0.2 * 292, 316 - 0.7 * 300)
    assert "Model &amp; co" in svg


def test_histogram_counts_each_value_once_and_includes_the_last_edge() -> None:
    svg = histogram_chart(
        title="Short axis",
        groups=[("benign", [1, 2, 9.99, 10]), ("ene", [15])],
        bin_edges=[0, 5, 10, 15],
        x_label="mm",
    )
    bars = [
        e.find(f"{SVG}title").text
        for e in ET.fromstring(svg).iter(f"{SVG}rect")
        if e.find(f"{SVG}title") is not None
    ]
    assert "benign: 2 in [0, 5)" in bars and "benign: 1 in [5, 10)" in bars
    assert "benign: 1 in [10, 15)" in bars and "ene: 1 in [10, 15)" in bars


def test_calibration_and_line_charts_are_valid_svg() -> None:
    ET.fromstring(calibration_chart(title="c", predicted=[0.1, 0.5], observed=[0.2, 0.4]))
    ET.fromstring(
        line_chart(
            title="Decision curve",
            curves=[Curve("model", [0, 0.5], [0.3, -0.2]), Curve("treat all", [0, 0.5], [0.3, -1])],
            x_label="threshold",
            y_label="net benefit",
            x_max=0.5,
            y_min=-0.05,
            y_max=0.35,
        )
    )
