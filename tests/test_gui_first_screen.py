"""The Mine and Train tabs' first screen: what a first run decides shows, the rest waits in a
closed Advanced section that keeps its settings across windows and restores the defaults."""

from __future__ import annotations

from quoradesk.core.mining import MiningParams
from quoradesk.gui.main_window import MainWindow


def test_first_run_shows_model_rerank_and_start_only(window, tmp_path):
    window.open_project(tmp_path / "p.sqlite")
    tab = window.mine_tab
    window.tabs.setCurrentWidget(tab)
    assert tab.model.isVisible() and tab.rerank.isVisible() and tab.start_button.isVisible()
    assert not tab.more.is_open and not tab.top_k.isVisible() and not tab.device.isVisible()
    assert tab.more.toggle.isVisible() and tab.more.toggle.text() == "Advanced settings"
    for widget in (tab.model, tab.rerank, tab.top_k, tab.rerank_top, tab.rerank_floor, tab.rerank_int8,
                   tab.encode_bf16, tab.encode_int8, tab.encode_int8_body, tab.min_score, tab.similarity, tab.search, tab.batch,
                   tab.device, tab.keep_above, tab.reranker, tab.restore_button):
        assert widget.toolTip(), widget
    tab.more.toggle.click()
    assert tab.more.is_open and tab.top_k.isVisible()


def test_advanced_settings_are_kept_and_restored(qtbot, window, settings):
    tab = window.mine_tab
    tab.more.toggle.click()
    tab.top_k.setValue(17)
    tab.rerank_int8.setChecked(False)
    tab.similarity.setCurrentText("dot")
    tab.save_settings()  # what Start does
    again = MainWindow(settings)
    qtbot.addWidget(again)
    other = again.mine_tab
    assert other.more.is_open  # opened last time: open again
    assert other.top_k.value() == 17 and not other.rerank_int8.isChecked()
    assert other.similarity.currentText() == "dot"
    other.restore_button.click()
    d = MiningParams()
    assert other.top_k.value() == d.top_k and other.rerank_int8.isChecked() == d.rerank_int8
    assert other.similarity.currentText() == "cosine" and other.rerank_floor.value() == d.rerank_floor
    assert other.params() == d  # every mining parameter back to its default
    third = MainWindow(settings)  # restored and saved
    qtbot.addWidget(third)
    assert third.mine_tab.top_k.value() == d.top_k and third.mine_tab.similarity.currentText() == "cosine"
    again.close()
    third.close()


def test_train_tab_first_screen_and_restore(window, tmp_path):
    window.open_project(tmp_path / "p.sqlite")
    tab = window.train_tab
    window.tabs.setCurrentWidget(tab)
    assert tab.kind.isVisible() and tab.data.isVisible() and tab.out.isVisible()
    assert not tab.more.is_open and not tab.epochs.isVisible()
    out = tab.out.text()
    tab.kind.setCurrentIndex(1)  # CrossEncoder
    tab.epochs.setValue(3)
    tab.lr.setValue(1e-3)
    tab.swapped.setChecked(False)
    out = tab.out.text()
    tab.restore_button.click()
    assert tab.epochs.value() == 1.0 and tab.lr.value() == 5e-5 and tab.batch.value() == 32  # the cross defaults
    assert tab.swapped.isChecked() and tab.out.text() == out
