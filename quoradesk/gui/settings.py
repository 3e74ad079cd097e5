"""The app's saved settings (QSettings), each kept with the default it was chosen against, so a
value the user never changed follows the app's default when a new version changes it.

Usage::

    top_k = saved_setting(settings, "mine/top_k", MiningParams().top_k, int)
    save_setting(settings, "mine/top_k", 17, MiningParams().top_k)
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox

from ..core import models

# Defaults of earlier versions, for settings saved before each value was stored with the
# default it was chosen against: such a value follows today's default.
PAST_DEFAULTS = {"mine/rerank_floor": (0.4, 0.5, 0.65, 0.7, 0.75), "mine/rerank_top": (3,),
                 # before the accurate SPLADE, the only shipped one was saved as its folder
                 "mine/model": (str(models.SHIPPED_SPARSE),),
                 # the full CrossEncoder, the only shipped reranker until the distilled one
                 "mine/reranker": (str(models.SHIPPED_CROSS),)}


def default_model_name() -> str:
    """The default SPLADE as the Mine tab saves it: its short name."""
    return models.sparse_model_name(models.default_sparse_model_path()) or str(models.default_sparse_model_path())


def saved_setting(settings, key: str, default, cast):
    """The saved value of ``key``, or ``default`` when the user never changed it, so a value
    left at the default follows the app's default when a new version changes it."""
    saved = settings.value(key)
    if saved is None:
        return default
    try:
        value = cast(saved)
        chosen_against = settings.value(key + "_default")
        if chosen_against is None:
            return default if value in PAST_DEFAULTS.get(key, ()) else value
        return default if value == cast(chosen_against) else value
    except (TypeError, ValueError):  # a hand-edited or damaged settings file
        return default


def _flag(value) -> bool:
    """A saved boolean: QSettings' INI files give it back as the string 'true' or 'false'."""
    return value is True or str(value).lower() == "true"


def setting_box(settings, text: str, key: str, default: bool, tip: str) -> QCheckBox:
    """A check box for the boolean setting ``key``, ticked as saved (see saved_setting)."""
    box = QCheckBox(text)
    box.setChecked(saved_setting(settings, key, default, _flag))
    box.setToolTip(tip)
    return box


def save_setting(settings, key: str, value, default) -> None:
    settings.setValue(key, value)
    settings.setValue(key + "_default", default)


def rerank_floor_key(similarity: str) -> str:
    """Where the rerank floor is saved: one per similarity, since a cosine floor (0.6) means
    nothing for dot products (no fixed scale; their default floor is 0). The cosine one keeps
    the key it always had."""
    return "mine/rerank_floor" if similarity == "cosine" else f"mine/{similarity}/rerank_floor"


