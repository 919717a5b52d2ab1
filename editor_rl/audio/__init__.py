"""Pure audio layer: decode and validate, beats and structure, per-beat features, synthetic songs.

Nothing here imports Ray. The one entry point most callers want is :func:`analyze_file`.
"""

from editor_rl.audio.analysis import SongAnalysis, analyze_audio, analyze_file
from editor_rl.audio.io import Audio, decode_audio, to_analysis_signal, write_audio

__all__ = ["Audio", "SongAnalysis", "analyze_audio", "analyze_file", "decode_audio", "to_analysis_signal", "write_audio"]
