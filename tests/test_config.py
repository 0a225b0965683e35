"""Settings precedence: CLI flag > SOC_* environment > soc.yaml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc.config import ConfigError, load_settings


def test_defaults_select_the_local_store_in_the_xdg_data_dir(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SOC_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    settings = load_settings()
    assert settings.store_kind == "local"
    assert settings.data_dir == tmp_path / "xdg" / "citysoc"
    assert settings["timezone"] == "Asia/Ho_Chi_Minh"


def test_flag_beats_environment_beats_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("soc.yaml").write_text(
        "timezone: UTC\nelasticsearch:\n  url: http://file:9200\n  index_prefix: city\n"
    )
    monkeypatch.setenv("SOC_ELASTICSEARCH_URL", "http://env:9200")
    settings = load_settings()
    assert settings["elasticsearch.url"] == "http://env:9200"
    assert settings["elasticsearch.index_prefix"] == "city"
    assert settings["timezone"] == "UTC"
    assert settings.store_kind == "elasticsearch"
    assert settings.origins["timezone"].endswith("soc.yaml")
    flagged = load_settings({"elasticsearch.url": "http://flag:9200", "timezone": None})
    assert flagged["elasticsearch.url"] == "http://flag:9200"
    assert flagged.origins["elasticsearch.url"] == "flag"


def test_user_config_dir_is_read_when_cwd_has_none(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home_cfg = tmp_path / "cfg" / "citysoc"
    home_cfg.mkdir(parents=True)
    (home_cfg / "soc.yaml").write_text("language: en\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert load_settings()["language"] == "en"


def test_secrets_are_masked(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ELASTICSEARCH_URL", "https://soc:hunter2@es.city:9200")
    monkeypatch.setenv("SOC_ELASTICSEARCH_API_KEY", "c2VjcmV0")
    masked = load_settings().masked()
    assert "hunter2" not in str(masked) and "c2VjcmV0" not in str(masked)
    assert masked["elasticsearch.url"] == "https://soc:****@es.city:9200"


def test_malformed_yaml_names_file_and_line(data_dir: Path) -> None:
    Path("soc.yaml").write_text("timezone: UTC\nelasticsearch:\n  url: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "soc.yaml" in message and "line" in message and "\n" not in message


def test_unknown_settings_and_bad_values_are_errors(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("soc.yaml").write_text("timezon: UTC\n")
    with pytest.raises(ConfigError, match="unknown setting 'timezon'"):
        load_settings()
    Path("soc.yaml").write_text("keep_original: perhaps\n")
    with pytest.raises(ConfigError, match="keep_original"):
        load_settings()
    Path("soc.yaml").unlink()
    monkeypatch.setenv("SOC_STORE", "mongodb")
    with pytest.raises(ConfigError, match="SOC_STORE"):
        load_settings()
