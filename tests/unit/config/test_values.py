import pytest

from supervisor.config.values import parse_duration, parse_size_mb


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("1s", 1.0), ("10s", 10.0), ("1m", 60.0), ("1h", 3600.0), ("2", 2.0),
    (3, 3.0), (0.25, 0.25), ("1.5s", 1.5), (" 2m ", 120.0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["-1s", "1x", "s", "", "1 parsec", True, -2, "1d"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "mb"), [
    ("128MB", 128.0), ("1GB", 1024.0), ("512KB", 0.5), ("64", 64.0), (80, 80.0), ("2g", 2048.0),
])
def test_sizes(text, mb):
    assert parse_size_mb(text) == mb


@pytest.mark.parametrize("text", ["-1MB", "lots", "12TB", False])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="expected a size"):
        parse_size_mb(text)
