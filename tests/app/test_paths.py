"""The app's folders have one home, and the models folder is one of them."""

from __future__ import annotations

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

from app import paths
from app.settings import SettingsStore
from models import store


def test_the_folders_carry_the_app_name_without_an_author_level():
    assert paths.config_dir() == paths.Path(user_config_dir("livecc-desk", appauthor=False))
    assert paths.data_dir() == paths.Path(user_data_dir("livecc-desk", appauthor=False))
    assert paths.cache_dir() == paths.Path(user_cache_dir("livecc-desk", appauthor=False))


def test_settings_and_models_live_in_the_apps_folders(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv(store.ENV_MODELS_DIR, raising=False)
    assert SettingsStore().folder == paths.config_dir()
    assert store.APP_NAME == paths.APP_NAME  # models cannot import app: the name is written twice
    assert store.models_dir() == paths.data_dir() / "models"
