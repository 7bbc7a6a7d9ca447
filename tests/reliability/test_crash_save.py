"""CI variant of stress/crash_save.py: SIGKILL during save / r+ metadata edit / r+ region writes."""

from stress import crash_save


def test_crash_during_writes_keeps_file_intact(tmp_path):
    # 288 > 256: the file has a pyramid level, so close() after region writes rebuilds it (the
    # rewrite that used to leave an unreadable level when killed); the check reads every level
    s = crash_save.run(trials=9, seed=3, shape=(32, 288, 288), workdir=tmp_path, verbose=False)
    crash_save.print_summary(s)
    assert s["outcomes"].get("intact", 0) == s["trials"], s["findings"]
    assert s["visible_strays_left"] == 0
    assert all(v.get("with_levels", 0) == v.get("intact", 0) for v in s["per_kind"].values()), s["per_kind"]
