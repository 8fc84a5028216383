"""The lab: tools *about* the product — benchmarks, zoo training, per-sample parity with stock lm-eval.

The lab may import the product; the product never imports the lab (``tests/test_layout.py`` enforces
it), so an installed evalsuite evaluates without any of this. Entry point: ``python -m evalsuite.lab
COMMAND`` (or the ``evalsuite-lab`` console script):

* ``bench``: evalsuite against stock lm-eval on paper-shaped models (:mod:`.bench`);
* ``parity``: per-sample agreement with stock lm-eval's ``hf`` backend (:mod:`.parity`);
* ``zoo``: pretrain the tiny gated trios the product ships as ``builtin: zoo/...`` (:mod:`.zoo`).

The benchmark's other tools run as modules: ``python -m evalsuite.lab.bench.batched``, ``.protocol``,
``.hybrid``, ``.power``, ``.profiles``, ``.data_parallel``, ``.ruler_generator``.
"""
