"""The fast paths behind the evalsuite LM adapter (scoring, generation, request preparation).

* :mod:`.lean`: a lean forward pass for Llama-family decoders (Llama, Qwen2,
  Qwen3, evalsuite's gated Qwen3) that calls the model's own modules op for op,
  with the attention kernel chosen by the caller;
* :mod:`.tree`: the prefix tree of scoring requests, packed into rows with a
  one-integer-per-token ancestor mask;
* :mod:`.decode`: greedy decoding with a static KV cache, eager ("exact": the
  same kernels as transformers' ``generate``) or CUDA-graph replay ("fast");
* :mod:`.encode`: lm-eval's ``_encode_pair`` for many pairs at once, exactly;
* :mod:`.templates`: lm-eval's Jinja templates compiled once instead of per render;
* :mod:`.finite`: the non-finite checks of the scorer, the decoders and the diagnostics, and the pass that
  names the first layer whose output went NaN or infinite.
"""
