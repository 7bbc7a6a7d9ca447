import sys
from pathlib import Path

# the suites' engines live in stress/ (full-size runs); CI runs them small
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "stress"))
