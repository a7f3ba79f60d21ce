"""The static site: an executed notebook rendered to HTML with its figures, and an index."""

from __future__ import annotations

import pytest

from tools.render_site import render

pytestmark = pytest.mark.notebooks


def test_render_site_writes_executed_pages_with_embedded_figures(tmp_path):
    pages = render(["01_energy_and_partition"], tmp_path)
    assert pages == [("01_energy_and_partition.html", pages[0][1])]
    page = (tmp_path / "01_energy_and_partition.html").read_text()
    assert page.count("data:image/png;base64") >= 3, "the figures are embedded in the page"
    assert "Traceback" not in page
    assert 'href="01_energy_and_partition.html"' in (tmp_path / "index.html").read_text()
