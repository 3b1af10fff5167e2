"""`pixelseg demo` end to end with a tiny budget (the full recipe's mIoU is a benchmark, not a test)."""
import json

from pixelseg.cli import main


def test_demo_runs_start_to_finish_and_draws(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "1", "--train-images", "8", "--val-images", "4", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "validation mIoU" in printed and str(out / "predictions") in printed
    assert (out / "run" / "best.pt").is_file() and (out / "run" / "curves.png").is_file()
    assert len(list((out / "predictions").glob("*_overlay.jpg"))) == 4
    scores = json.loads((out / "val_scores.json").read_text())
    assert 0.0 <= scores["miou"] <= 1.0
