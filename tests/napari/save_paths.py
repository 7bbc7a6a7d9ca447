"""napari's public save paths, as a user reaches them, for the plugin tests.

* ``menu``: File › IO Utilities › *Save as MLArray…* (the app-model command the menu item runs,
  with the file dialog answered);
* ``layers_save``: ``viewer.layers.save(path, selected=True, plugin="mlarray")`` (File › Save
  Selected Layers… ends here);
* ``widget``: the metadata dock widget's *Save as MLArray…* button.
"""

from __future__ import annotations

from conftest import PLUGIN

SAVE_PATHS = ("menu", "layers_save", "widget")


def _answer_dialog(monkeypatch, path) -> None:
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), "")))


def save_selected(how: str, viewer, layers, path, monkeypatch) -> list[str]:
    """Select ``layers`` (the first active) and save them to ``path`` through ``how``."""
    viewer.layers.selection.active = layers[0]  # clicked first,
    viewer.layers.selection.update(layers)  # then the others shift-clicked
    if how == "layers_save":
        return list(viewer.layers.save(str(path), selected=True, plugin=PLUGIN))
    _answer_dialog(monkeypatch, path)
    if how == "menu":
        from napari._app_model import get_app_model

        app = get_app_model()
        items = [getattr(i, "command", None) for i in app.menus.get_menu("napari/file/io_utilities")]
        assert any(getattr(c, "id", None) == "mlarray.save_as" for c in items)
        return app.commands.execute_command("mlarray.save_as").result() or []
    if how == "widget":
        _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "MLArray metadata")
        assert widget.save_as_button.enabled
        widget.save_as_button.native.click()
        assert widget.error == ""
        return widget.last_saved
    raise ValueError(how)
