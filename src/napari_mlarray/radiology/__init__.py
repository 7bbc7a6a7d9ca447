"""Reading CT and MR as radiologists do: window presets and mouse window/level, a cursor read-out
with patient letters, and measurements in millimetres."""
