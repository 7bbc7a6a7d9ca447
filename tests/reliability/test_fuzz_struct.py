"""CI run of the structure-aware fuzzer (stress/fuzz_struct.py): one case of every class per cycle,
each in a capped child; no crash, hang, wrong error type, escape or disclosure."""

import argparse

from stress import fuzz_struct


def test_structure_aware_fuzz_small_run():
    args = argparse.Namespace(cases=2 * len(fuzz_struct.CLASSES), seed=12, jobs=2, mem_mb=2048, timeout=120,
                              replay=None, json=None)
    summary = fuzz_struct.run(args)
    assert summary["cases"] == 2 * len(fuzz_struct.CLASSES)
    assert not summary["findings"], summary["findings"]
    assert set(summary["by_class"]) == set(fuzz_struct.CLASSES)
