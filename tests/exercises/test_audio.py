"""Listening audio: espeak-ng synthesis into the cache, idempotent, speaker names not spoken."""

from __future__ import annotations

import wave

import pytest

from exercises import audio
from exercises.model import Passage

needs_espeak = pytest.mark.skipif(not audio.espeak_available(), reason="espeak-ng is not installed")
DIALOGUE = Passage("t-l-01", "dialogue", "Kadri: Tere, Riho!\nRiho: Tere\n")


def test_spoken_text_drops_speaker_names():
    assert audio.spoken_text(DIALOGUE) == "Tere, Riho!\nTere."
    notice = Passage("t-l-02", "announcement", "Rong väljub kell kaheksa")
    assert audio.spoken_text(notice) == "Rong väljub kell kaheksa."


def test_audio_path_and_default_cache(monkeypatch, tmp_path):
    assert audio.audio_path("a2-l-01", tmp_path) == tmp_path / "a2-l-01.wav"
    with pytest.raises(ValueError):
        audio.audio_path("../etc", tmp_path)
    monkeypatch.delenv(audio.ENV_VAR, raising=False)
    assert str(audio.default_cache_dir()) == "instance/audio"
    monkeypatch.setenv(audio.ENV_VAR, str(tmp_path))
    assert audio.default_cache_dir() == tmp_path


@needs_espeak
def test_synthesise_writes_a_valid_wav_once(tmp_path):
    path = audio.synthesise(DIALOGUE, tmp_path / "cache")
    assert path == tmp_path / "cache" / "t-l-01.wav"
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getnframes() > wav.getframerate() // 2
    stamp = path.stat().st_mtime_ns
    assert audio.synthesise(DIALOGUE, tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["t-l-01.wav"]


def test_listening_passages(good_content):
    assert [p.id for p in audio.listening_passages(good_content)] == ["a2-l-01"]
