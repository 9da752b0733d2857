"""Every engine default, once.

The engine's option records (``RuntimeOptions``, ``SamplingOptions``,
``ContextOptions``, ``EngineOptions``), the CLI's argument parser, the desktop
app's settings and the frame sampler all read these names, so a default changes
in one place. Values follow the LiveCC release (showlab/livecc ``demo/infer.py``)
unless a comment says otherwise. Help texts format these constants instead of
repeating the numbers.
"""

from __future__ import annotations

#: Qwen2-VL's resize factor: frame sides are multiples of 28 pixels (one 2x2 merge of 14-px patches).
PIXEL_FACTOR = 28
#: Most pixels per frame after resizing (LiveCC's default; ~384 vision tokens per 2-frame chunk).
MAX_PIXELS = 384 * PIXEL_FACTOR * PIXEL_FACTOR
#: Fewest pixels per frame after resizing (Qwen2-VL's lower bound; smaller frames are scaled up).
MIN_PIXELS = 100 * PIXEL_FACTOR * PIXEL_FACTOR
#: Largest ``max_pixels`` a user may choose (the settings' upper bound; ~4k tokens per chunk).
MAX_PIXELS_LIMIT = 4096 * PIXEL_FACTOR * PIXEL_FACTOR

#: KV cache size in tokens (vision tokens included): ~20 s of frames at MAX_PIXELS plus text.
N_CTX = 8192
#: Most tokens evaluated in one llama.cpp call.
N_BATCH = 2048
#: CPU cores left to capture, decoding and other programs when the thread count is automatic
#: (ggml's spinning threads collapse when another program wants a core: BENCHMARKS.md).
SPARE_CORES = 1

#: Sampling temperature when not greedy (the release samples).
TEMPERATURE = 0.7
#: Top-k candidates kept when sampling.
TOP_K = 40
#: Nucleus (top-p) mass kept when sampling.
TOP_P = 0.9
#: Seed of the sampler's generator, so a sampled run can be repeated exactly.
SEED = 0
#: Repetition penalty over every token in the context (Hugging Face's rule; 1.0 disables it).
REPETITION_PENALTY = 1.05
#: "Talk more": the silence token is forbidden while its probability is at most BASE + STEP * n.
TALK_MORE_BASE = 0.5
TALK_MORE_STEP = 0.0

#: Most tokens generated after each 1-second chunk (the release's commentary length).
MAX_NEW_TOKENS = 16
#: Most tokens of an answer in conversation mode ("ask about a moment").
ANSWER_MAX_TOKENS = 512

#: Context policy: "streaming" (a window of recent frames and text at bounded positions) or
#: "evict" (plain eviction of the oldest turns); see ``models.engine.streaming_policy``.
CONTEXT_POLICY = "streaming"
#: Seconds of video whose frames stay in the cache; 0 sizes the window by the context (half of it).
VISION_WINDOW_S = 0
#: Cells of recent prompt text and commentary kept; 0 sizes the window by the context (3/16 of it).
TEXT_WINDOW_TOKENS = 0
#: Seconds of frames re-encoded when the context is re-primed (at most the vision window).
REPRIME_VISION_S = 1
