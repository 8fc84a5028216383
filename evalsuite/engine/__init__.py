"""The engine: the lm-eval LM and everything it runs, from request tokens to scores and generated text.

* :mod:`.lm`: :class:`~evalsuite.engine.lm.EvalsuiteLM`, the LM lm-eval calls (registered as ``evalsuite``);
* :mod:`.loglikelihood`: log-likelihoods of many requests, each shared prefix computed once;
* :mod:`.request_tree`: the prefix tree of scoring requests, packed into rows with a
  one-integer-per-token ancestor mask (:mod:`.row_layout`: those rows as one forward pass's arrays);
* :mod:`.forward`: a forward pass for Llama-family decoders (Llama, Qwen2, Qwen3, evalsuite's gated Qwen3)
  that calls the model's own modules op for op, with the attention kernel chosen by the caller;
* :mod:`.kernels`: which attention kernel serves plain causal rows, packed rows and prompts;
* :mod:`.generate`: greedy ``generate_until`` without truncation; :mod:`.decode` (one request on a static KV
  cache, eager or CUDA-graph replay) and :mod:`.batch_decode` (many requests, one cache of B rows), both on
  :mod:`.static_cache` (the preallocated KV cache and one token's attention over it);
* :mod:`.encode`: lm-eval's ``_encode_pair`` for many pairs at once, exactly;
* :mod:`.lmeval_templates`, :mod:`.lmeval_docs`: patches to lm-eval's own side of a run (templates compiled
  once, documents decoded once) that leave every prompt identical;
* :mod:`.cost`: what a request costs at the GPU's roofline (the suite's ETA, the multi-process split, the
  lab's MFU: one peak rate);
* :mod:`.finite`: the non-finite checks of the scorer, the decoders and the diagnostics, and the pass that
  names the first layer whose output went NaN or infinite.
"""
