"""CI variant of stress/crash_save.py: SIGKILL during save / r+ metadata edit / r+ region writes."""

import crash_save


def test_crash_during_writes_keeps_file_intact(tmp_path):
    s = crash_save.run(trials=9, seed=3, shape=(32, 256, 256), workdir=tmp_path, verbose=False)
    crash_save.print_summary(s)
    assert s["outcomes"].get("intact", 0) == s["trials"], s["findings"]
    assert s["visible_strays_left"] == 0
