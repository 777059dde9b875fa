"""Named segments appear under their names in the pictures."""

import segdb
from segdb.present import plots


def test_named_segments_label_the_plots(tmp_path, monkeypatch):
    captured = {}
    real_save = plots._save

    def save(fig, path):
        texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        texts += [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
        captured[path.name] = texts
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", save)
    with segdb.connect(str(tmp_path / "p.duckdb")) as db:
        db.sql("CREATE TABLE t AS SELECT i AS id, (i % 2) * 10 + (i % 5) * 0.1 AS x, "
               "(i % 2) * 10 + (i % 3) * 0.1 AS y FROM range(60) r(i)")
        db.create("p", source="t", key="id", features=["x", "y"], k=2)
        db.refresh("p")
        db.name_segment("p", 2, "Big spenders")
        db.plot("p", tmp_path / "png")
    for name in ("p_run1_segments.png", "p_run1_sizes.png", "p_run1_profile_heatmap.png"):
        assert any(t.startswith("segment 2: Big spenders") for t in captured[name]), (name, captured[name])
        assert any(t.startswith("segment 1") and ":" not in t for t in captured[name]), captured[name]
    assert plots.segment_title({"segment_id": 3, "name": None}) == "segment 3"
