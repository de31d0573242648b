"""The report's document model and its renderers: numbers matched to their uncertainty,
formulas through one renderer, table cells escaped in Markdown and HTML, and the checks of
what a reader sees (each with a planted defect it must find)."""

from __future__ import annotations

import math

import pytest

from validation.doc import (
    Code,
    Math,
    Section,
    code_spans,
    estimate,
    figure_problems,
    formula,
    html_problems,
    markdown_problems,
    mean_sd,
    num,
    para,
    percent,
    relative_gap,
    strong,
    table,
    to_html,
    to_markdown,
)


def test_an_estimate_takes_the_decimals_of_its_interval():
    # the report used to print "+0.08 (95% CI +0.0709 .. +0.0891)"
    assert estimate(0.08, 0.0709, 0.0891) == "+0.0800 (95% CI +0.0709 .. +0.0891)"
    assert estimate(1.2345, 1.0, 1.5) == "+1.23 (95% CI +1.00 .. +1.50)"
    assert estimate(float("nan"), 0, 1) == "n/a (95% CI n/a)"


def test_a_mean_takes_the_decimals_of_its_spread_and_zero_has_no_sign():
    assert mean_sd(1.11e-17, 0.0094) == "0.0000 ± 0.0094"  # was "1.11e-17 +- 0.0094"
    assert mean_sd(-1e-9, 0.02) == "0.000 ± 0.020"
    assert num(-0.0) == "0" and num(-1e-20, sign=True) == "-1.00e-20"
    assert percent(-1e-9) == "-1.00e-7%"
    assert num(float("nan")) == "n/a" and num(None) == "n/a" and num(math.inf) == "n/a"
    assert num(0.02, trim=True) == "0.02" and num(0.02) == "0.0200"


def test_a_relative_gap_says_which_side_in_words():
    assert relative_gap(0.9, 1.0) == "10.0% below"
    assert relative_gap(1.1, 1.0) == "10.0% above"
    assert relative_gap(1.0 - 1e-6, 1.0) == "1.0e-6 relative below"  # never "-0.00% below"
    assert relative_gap(1.0, 1.0) == "equal to 1e-12"


def test_formulas_go_through_one_renderer():
    assert formula("S11(x1, x2)**2/2") == "S11(x1, x2)^2/2"
    md = to_markdown([para(Math("sigma**2*x1**2/2"))])
    assert md.strip() == "`sigma^2*x1^2/2`"
    html = str(to_html([para(Math("sigma**2*x1**2/2"), " and ", strong("a*b"))]))
    assert "sigma^2*x1^2/2" in html and "**" not in html and "<b>a*b</b>" in html


def test_a_pipe_in_a_cell_never_splits_the_row():
    blocks = [table(["what", "value"], [["max |grad_x p_c|", Code("a|b")], ["", "x"]])]
    md = to_markdown(blocks)
    assert markdown_problems(md) == [], md
    assert html_problems(str(to_html(blocks))) == []
    # negative control: the same row written raw splits into four cells
    raw = "| what | value |\n|---|---|\n| max |grad_x p_c| | x |\n"
    assert markdown_problems(raw) == ["line 3: 4 cells, the header 2"]


def test_a_table_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        table(["a", "b"], [["only one"]])


def test_markdown_specials_in_text_are_escaped_but_readable():
    md = to_markdown([para("a*b, x_1 and _y_, 2 >= 1, <b>not a tag</b>, [a](b)")])
    assert md.strip() == "a\\*b, x_1 and \\_y\\_, 2 >= 1, \\<b>not a tag\\</b>, [a\\](b)"


def test_code_spans_from_a_title_written_in_markdown():
    assert code_spans("Dropout (`dropout`)") == ("Dropout (", Code("dropout"), ")")
    assert code_spans("odd ` tick") == ("odd ` tick",)


def test_a_heading_written_with_backticks_shows_code_not_escaped_ticks():
    """inspect's 'The flow of `layer1`' came out as '# The flow of \\`layer1\\`' (literal
    ticks in the rendered page); a heading's spans are code in Markdown and HTML, its other
    text escaped, and an unmatched tick stays text (control)."""
    from validation.doc import Heading
    from validation.doc.render import environment

    md = to_markdown([Heading("The flow of `layer1` <b>", 1)])
    assert md.startswith("# The flow of `layer1` \\<b>") and "\\`" not in md
    html = environment().get_template("blocks.html.j2").render(
        section=None, blocks=[Heading("The flow of `layer1` <b>", 2)], images={})
    assert "<h2>The flow of <code>layer1</code> &lt;b&gt;</h2>" in html
    assert "\\`" in to_markdown([Heading("odd ` tick", 2)])


@pytest.mark.parametrize("page, problem", [
    ("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td><td>3</td></tr></table>",
     "rows with [2, 3] cells"),
    ("<p><code>S11**2/2</code></p>", "raw '**'"),
    ("<p><code>S11<b>2/2</b></code></p>", "bold inside a code span"),
    ("<table><tr><td>``</td></tr></table>", "raw Markdown backtick"),
    ("<p>robust accuracy nan</p>", "'nan' shown as a value"),
    ("<p><li>an orphan</li></p>", "outside a list"),
])
def test_the_page_check_finds_each_defect_the_old_report_had(page, problem):
    found = html_problems(page)
    assert any(problem in p for p in found), found
    assert html_problems("<p>fine: <code>x^2</code>, a nano-second</p>") == []


def test_sections_render_with_escaped_titles_and_figures_embedded(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "f.png")
    sec = Section("x", "Title <b>", (para("text"),))
    html = str(to_html(sec, tmp_path))
    assert '<h2 id="x">Title &lt;b&gt;</h2>' in html
    from validation.doc import Figure

    html = str(to_html(Section("y", "t", (Figure("f.png", "a figure"),)), tmp_path))
    assert "data:image/png;base64," in html
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        to_html(Section("z", "t", (Figure("missing.png", "gone"),)), tmp_path)


def test_the_figure_check_sees_overlapping_titles_and_passes_a_clean_figure():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    for ax in axes:  # the robustness figure's old titles: too long for their panels
        ax.plot([0, 1], [0, 1])
        ax.set_title("linf (dotted: exhaustive ground truth; dashed: feature-box lower estimate)")
    assert any("overlaps" in p for p in figure_problems(fig))
    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend()
    ax.set_title("short")
    assert figure_problems(fig) == []


def test_a_legend_entry_for_a_line_never_drawn_is_named():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1], [0, 1], label="drawn")
    ax.plot([0, 1], [float("nan")] * 2, "k:", label="exhaustive")  # promised, nothing drawn
    ax.legend()
    assert figure_problems(fig) == ["legend entry 'exhaustive' has no finite data"]


def test_save_figure_refuses_a_broken_layout_under_the_check(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from validation.doc import FigureLayoutError, save_figure

    fig, axes = plt.subplots(1, 2, figsize=(4, 2))
    for ax in axes:
        ax.set_title("a title much too long for the half of a small figure")
    monkeypatch.setenv("CDVERIFY_CHECK_FIGURES", "1")
    with pytest.raises(FigureLayoutError, match="overlaps"):
        save_figure(fig, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
