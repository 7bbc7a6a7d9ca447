"""CI fuzzing: a few hundred mutated files, read in a crash-isolated worker (full run: stress/fuzz.py)."""

from stress import fuzz


def test_fuzz_ci(tmp_path):
    s = fuzz.run(cases=256, seed=7, jobs=2, timeout=60, workdir=tmp_path, verbose=False)
    fuzz.print_summary(s)
    o = s["outcomes"]
    for bad in ("crash", "hang", "bad_error", "unnamed", "silent_data", "silent_meta", "gen_error"):
        assert o.get(bad, 0) == 0, (bad, [f for f in s["findings"] if f["outcome"] == bad][:3])
    assert s["cases"] == 256
    # every mutation class ran, including the MLArray header and the level frames in front of the base
    assert set(s["per_class"]) == set(fuzz.ALL_CLASSES) and all(sum(v.values()) for v in s["per_class"].values())
    assert s["per_class"]["flip_levels"].get("detected", 0) > 0
    assert s["per_class"]["flip_container"].get("detected", 0) > 0
    assert o.get("detected", 0) > 128
