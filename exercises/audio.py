"""Listening audio: synthesise each listening passage with espeak-ng's Estonian voice.

Files are named ``<passage id>.wav`` in a cache folder the web serves: ``--cache``, else the
environment variable ``LANGJOURNEY_AUDIO_DIR``, else ``instance/audio`` under the working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .model import LISTENING_KINDS, Content, Passage

ENV_VAR = "LANGJOURNEY_AUDIO_DIR"
VOICE = "et"


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is installed."""
    return shutil.which("espeak-ng") is not None


def default_cache_dir() -> Path:
    """``$LANGJOURNEY_AUDIO_DIR`` if set, else ``instance/audio`` relative to the working directory."""
    return Path(os.environ.get(ENV_VAR) or Path("instance") / "audio")


def audio_path(passage_id: str, cache_dir: Path | str) -> Path:
    """Return where the audio of passage ``passage_id`` is kept in ``cache_dir``."""
    if not passage_id or "/" in passage_id or "\\" in passage_id or passage_id.startswith("."):
        raise ValueError(f"not a passage id: {passage_id!r}")
    return Path(cache_dir) / f"{passage_id}.wav"


def spoken_text(passage: Passage) -> str:
    """The text to speak: the passage's lines without speaker names, one sentence-like line each."""
    return "\n".join(line if line[-1] in ".!?…" else line + "." for line in passage.spoken_lines())


def synthesise(passage: Passage, cache_dir: Path | str, *, force: bool = False) -> Path:
    """Write ``<passage id>.wav`` in ``cache_dir`` unless it exists (or ``force``); return its path.

    The file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    target = audio_path(passage.id, cache_dir)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{passage.id}.", suffix=".wav", dir=target.parent)
    os.close(handle)
    try:
        subprocess.run(["espeak-ng", "-v", VOICE, "-b", "1", "-w", temporary, "--stdin"],
                       input=spoken_text(passage).encode("utf-8"), capture_output=True, check=True)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def listening_passages(content: Content) -> list[Passage]:
    """The passages that listening items use (dialogues and announcements referenced by an item)."""
    used = {item.passage for item in content.items if item.type == "listening"}
    return [p for p in content.passages if p.id in used and p.kind in LISTENING_KINDS]
